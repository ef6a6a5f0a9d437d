//! Signature analysis shared by functions and actor methods: argument lists, how a
//! return type maps onto stored values, and the matching `ObjectRef` types.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{FnArg, GenericArgument, Ident, Meta, PathArguments, ReturnType, Signature, Token, Type};

/// What `#[ray::remote(..)]` on a function or `#[ray::method(..)]` on an actor method
/// says about a call: how many refs it returns, whether it streams, and (methods only)
/// its concurrency group.
pub(crate) struct CallAttrs {
    pub(crate) num_returns: usize,
    pub(crate) streaming: bool,
    pub(crate) concurrency_group: Option<syn::LitStr>,
}

pub(crate) fn call_attrs(attr: TokenStream, method: bool) -> syn::Result<CallAttrs> {
    let mut out = CallAttrs {
        num_returns: 1,
        streaming: false,
        concurrency_group: None,
    };
    if attr.is_empty() {
        return Ok(out);
    }
    let metas = syn::parse::Parser::parse2(
        syn::punctuated::Punctuated::<Meta, Token![,]>::parse_terminated,
        attr,
    )?;
    let expected = if method {
        "expected `num_returns = N`, `streaming` or `concurrency_group = \"name\"`"
    } else {
        "expected `num_returns = N` or `streaming`"
    };
    for m in metas {
        match &m {
            Meta::Path(p) if p.is_ident("streaming") => out.streaming = true,
            Meta::NameValue(nv) if nv.path.is_ident("num_returns") => {
                out.num_returns = positive_int(&nv.value, "num_returns")?;
            }
            Meta::NameValue(nv) if method && nv.path.is_ident("concurrency_group") => {
                let syn::Expr::Lit(syn::ExprLit {
                    lit: syn::Lit::Str(lit),
                    ..
                }) = &nv.value
                else {
                    return Err(syn::Error::new_spanned(
                        &nv.value,
                        "concurrency_group must be a string literal",
                    ));
                };
                out.concurrency_group = Some(lit.clone());
            }
            _ => return Err(syn::Error::new_spanned(&m, expected)),
        }
    }
    if out.streaming && out.num_returns != 1 {
        return Err(syn::Error::new(
            Span::call_site(),
            "`streaming` and `num_returns` exclude each other",
        ));
    }
    Ok(out)
}

/// An integer literal of at least 1 (`what` names it in the errors).
pub(crate) fn positive_int(value: &syn::Expr, what: &str) -> syn::Result<usize> {
    let syn::Expr::Lit(syn::ExprLit {
        lit: syn::Lit::Int(lit),
        ..
    }) = value
    else {
        return Err(syn::Error::new_spanned(
            value,
            format!("{what} must be an integer literal"),
        ));
    };
    let n: usize = lit.base10_parse()?;
    if n == 0 {
        return Err(syn::Error::new_spanned(
            value,
            format!("{what} must be at least 1"),
        ));
    }
    Ok(n)
}

/// The typed (non-receiver) parameters of a signature: named as the user named them
/// (so the compiler's messages about a call name them too), or `__a0, __a1, ..` when
/// a parameter is a pattern.
///
/// A parameter is owned (`values: Vec<f64>`: each call gets its own copy of a stored
/// object) or borrowed (`values: &[f64]`, `&Vec<f64>`, `s: &str`, `x: &T`): the object
/// is stored in its owned form (`Vec<E>`, `String`, `T`: `types`) and the body reads
/// the stored object in place, through the store's shared pointer held for the call.
pub(crate) struct Params {
    pub(crate) names: Vec<Ident>,
    /// The stored form of each parameter: what callers pass and what travels.
    pub(crate) types: Vec<Type>,
    /// Whether each parameter is borrowed (declared `&..`).
    pub(crate) lent: Vec<bool>,
    /// The types as declared, for the build fingerprint.
    pub(crate) declared: Vec<Type>,
}

pub(crate) fn params(sig: &Signature) -> syn::Result<Params> {
    if !sig.generics.params.is_empty() {
        return Err(syn::Error::new_spanned(
            &sig.generics,
            "remote functions cannot be generic: every node must find them by name",
        ));
    }
    let mut p = Params {
        names: Vec::new(),
        types: Vec::new(),
        lent: Vec::new(),
        declared: Vec::new(),
    };
    for arg in &sig.inputs {
        if let FnArg::Typed(pt) = arg {
            let (ty, lent) = match &*pt.ty {
                Type::Reference(r) => (owned_form(r)?, true),
                other => (other.clone(), false),
            };
            p.names.push(match &*pt.pat {
                syn::Pat::Ident(i) if i.by_ref.is_none() && i.subpat.is_none() => {
                    Ident::new(&i.ident.to_string(), i.ident.span())
                }
                _ => format_ident!("__a{}", p.names.len()),
            });
            p.types.push(ty);
            p.lent.push(lent);
            p.declared.push((*pt.ty).clone());
        }
    }
    Ok(p)
}

/// The stored form of a borrowed parameter: `&[E]` is a `Vec<E>`, `&str` a `String`,
/// `&T` a `T`.
fn owned_form(r: &syn::TypeReference) -> syn::Result<Type> {
    if r.mutability.is_some() {
        return Err(syn::Error::new_spanned(
            r,
            "a remote parameter cannot be `&mut`: the task reads a stored object that others \
             share; take it by value to get a copy of its own",
        ));
    }
    if let Some(l) = &r.lifetime {
        return Err(syn::Error::new_spanned(
            l,
            "a borrowed remote parameter lives for the call only: write it without a lifetime",
        ));
    }
    let span = r.and_token.span;
    Ok(match &*r.elem {
        Type::Slice(s) => {
            let e = &s.elem;
            syn::parse_quote_spanned!(span=> ::std::vec::Vec<#e>)
        }
        Type::Path(tp) if tp.qself.is_none() && tp.path.is_ident("str") => {
            syn::parse_quote_spanned!(span=> ::std::string::String)
        }
        other => other.clone(),
    })
}

impl Params {
    /// What each parameter resolves with, from its `Arg` (a task about to run here): a
    /// borrowed one to the store's shared pointer (`Arc<T>`), an owned one to its value
    /// (a copy of a stored object; `function` names the call in the warning for large
    /// ones).
    pub(crate) fn resolved(&self, function: &TokenStream) -> Vec<TokenStream> {
        self.names
            .iter()
            .zip(&self.types)
            .zip(&self.lent)
            .map(|((name, ty), lent)| {
                if *lent {
                    return quote!(#name.resolve_lent());
                }
                // A shared pointer's copy is a pointer copy: nothing to warn about.
                if is_shared_pointer(ty) {
                    return quote!(#name.resolve());
                }
                let param = name.to_string();
                let ty_str = type_string(ty);
                let instead = borrowed_form(ty);
                quote!(#name.resolve_owned(&::ray::__private::CopySite {
                    module: module_path!(),
                    function: #function,
                    param: #param,
                    ty: #ty_str,
                    instead: #instead,
                }))
            })
            .collect()
    }

    /// The arguments of the user's function after [`Params::resolved`]: a borrowed
    /// parameter lends the stored object (`&*arc`).
    pub(crate) fn passed_shared(&self) -> Vec<TokenStream> {
        self.passed(quote!(&*))
    }

    /// The arguments of the user's function from decoded values (a call from another
    /// node): a borrowed parameter lends the decoded value.
    pub(crate) fn passed_owned(&self) -> Vec<TokenStream> {
        self.passed(quote!(&))
    }

    fn passed(&self, lend: TokenStream) -> Vec<TokenStream> {
        self.names
            .iter()
            .zip(&self.lent)
            .map(|(name, lent)| {
                if *lent {
                    quote!(#lend #name)
                } else {
                    quote!(#name)
                }
            })
            .collect()
    }
}

/// Whether a parameter of type `ty` is a shared pointer (`Arc<T>`, `Rc<T>`, `Bytes`):
/// taking a stored object, it shares it instead of copying it.
fn is_shared_pointer(ty: &Type) -> bool {
    ["Arc", "Rc", "Bytes"]
        .iter()
        .any(|p| last_segment_args(ty, p).is_some())
}

/// A type as the user would write it (`Vec<f64>`, not `Vec < f64 >`).
fn type_string(ty: &Type) -> String {
    let mut s = quote!(#ty).to_string();
    for (from, to) in [
        (" :: ", "::"),
        (":: ", "::"),
        (" <", "<"),
        ("< ", "<"),
        (" >", ">"),
        (" ,", ","),
        ("& ", "&"),
        ("[ ", "["),
        (" ]", "]"),
        ("( ", "("),
        (" )", ")"),
        (" ;", ";"),
    ] {
        s = s.replace(from, to);
    }
    s
}

/// The borrowed form to declare instead of an owned parameter of type `ty`, for the
/// large-copy warning: "`&[f64]` (or `&Vec<f64>`)", "`&str`", "`&T`".
fn borrowed_form(ty: &Type) -> String {
    let whole = type_string(ty);
    if let Some(args) = last_segment_args(ty, "Vec")
        && let [elem] = args.as_slice()
    {
        return format!("`&[{}]` (or `&{whole}`)", type_string(elem));
    }
    if last_segment_args(ty, "String").is_some_and(|a| a.is_empty()) {
        return format!("`&str` (or `&{whole}`)");
    }
    format!("`&{whole}`")
}

/// How a function's return value becomes stored objects.
pub(crate) struct Returns {
    /// The refs type `remote` returns.
    pub(crate) ref_type: TokenStream,
    /// Turns `__out` into a `TaskOutput` expression (no `?` inside).
    pub(crate) convert: TokenStream,
    /// The value behind the refs: the `Ok` type of a `Result`, a tuple for several.
    pub(crate) value_ty: Type,
    /// Statements replacing `__out` by its `Ok` value (returning the task error).
    pub(crate) unwrap: TokenStream,
    /// Turns an unwrapped `__out` into `Ok(Vec<StoredValue>)`.
    pub(crate) store: TokenStream,
    /// Builds the refs from the iterator `__it` of return handles.
    pub(crate) build: TokenStream,
    pub(crate) count: usize,
}

fn last_segment_args(ty: &Type, name: &str) -> Option<Vec<Type>> {
    let Type::Path(p) = ty else { return None };
    let seg = p.path.segments.last()?;
    if seg.ident != name {
        return None;
    }
    let PathArguments::AngleBracketed(a) = &seg.arguments else {
        return Some(Vec::new());
    };
    Some(
        a.args
            .iter()
            .filter_map(|g| match g {
                GenericArgument::Type(t) => Some(t.clone()),
                _ => None,
            })
            .collect(),
    )
}

/// `Result<T, E>` (or `ray::Result<T>`): `Some(T)`.
pub(crate) fn result_ok_type(ty: &Type) -> Option<Type> {
    last_segment_args(ty, "Result").and_then(|a| a.into_iter().next())
}

pub(crate) fn returns(
    output: &ReturnType,
    num_returns: usize,
    function: &str,
) -> syn::Result<Returns> {
    let ty: Type = match output {
        ReturnType::Default => syn::parse_quote!(()),
        ReturnType::Type(_, t) => (**t).clone(),
    };
    let failed = task_error(quote!(#function));
    let (value_ty, unwrap) = match result_ok_type(&ty) {
        Some(ok) => (
            ok,
            quote!(let __out = match __out {
                Ok(v) => v,
                Err(e) => return Err(#failed),
            };),
        ),
        None => (ty.clone(), quote!()),
    };
    owned_result(&value_ty)?;
    if num_returns == 1 {
        let store = quote!(Ok(vec![::ray::__private::stored(__out)]));
        return Ok(Returns {
            ref_type: quote!(::ray::ObjectRef<#value_ty>),
            convert: quote!((|| -> ::ray::__private::TaskOutput {
                #unwrap
                #store
            })()),
            build: quote!(::ray::__private::typed::<#value_ty>(&mut __it)),
            count: 1,
            value_ty,
            unwrap,
            store,
        });
    }
    let Type::Tuple(tuple) = &value_ty else {
        return Err(syn::Error::new_spanned(
            &ty,
            format!("num_returns = {num_returns} needs a {num_returns}-tuple return type"),
        ));
    };
    if tuple.elems.len() != num_returns {
        return Err(syn::Error::new_spanned(
            &ty,
            format!(
                "num_returns = {num_returns} but the tuple has {} elements",
                tuple.elems.len()
            ),
        ));
    }
    let elems: Vec<&Type> = tuple.elems.iter().collect();
    let vars: Vec<Ident> = (0..num_returns)
        .map(|i| format_ident!("__r{}", i))
        .collect();
    let store = quote!({
        let (#(#vars,)*) = __out;
        Ok(vec![#(::ray::__private::stored(#vars)),*])
    });
    Ok(Returns {
        ref_type: quote!((#(::ray::ObjectRef<#elems>,)*)),
        convert: quote!((|| -> ::ray::__private::TaskOutput {
            #unwrap
            #store
        })()),
        build: quote!((#(::ray::__private::typed::<#elems>(&mut __it),)*)),
        count: num_returns,
        value_ty: value_ty.clone(),
        unwrap,
        store,
    })
}

/// A result (or each of a tuple's) must be owned: it is stored, and may travel.
fn owned_result(ty: &Type) -> syn::Result<()> {
    match ty {
        Type::Reference(r) => Err(syn::Error::new_spanned(
            r,
            "a remote function returns owned values: its result is stored and may travel to \
             another process, while a borrowed parameter lives only for the call",
        )),
        Type::Tuple(t) => t.elems.iter().try_for_each(owned_result),
        _ => Ok(()),
    }
}

/// The `Item = T` of an `impl Iterator<Item = T>` / `impl Stream<Item = T>` return type,
/// and whether it is a `Stream`.
pub(crate) fn stream_item(output: &ReturnType) -> syn::Result<(Type, bool)> {
    let err = || {
        syn::Error::new(
            Span::call_site(),
            "a streaming remote function returns `impl Iterator<Item = T>` or `impl Stream<Item = T>`",
        )
    };
    let ReturnType::Type(_, ty) = output else {
        return Err(err());
    };
    let Type::ImplTrait(it) = &**ty else {
        return Err(err());
    };
    for bound in &it.bounds {
        if let syn::TypeParamBound::Trait(tb) = bound {
            let Some(seg) = tb.path.segments.last() else {
                continue;
            };
            let is_stream = seg.ident == "Stream";
            if let PathArguments::AngleBracketed(a) = &seg.arguments {
                for g in &a.args {
                    if let GenericArgument::AssocType(at) = g
                        && at.ident == "Item"
                    {
                        return Ok((at.ty.clone(), is_stream));
                    }
                }
            }
        }
    }
    Err(err())
}

/// `let __a0 = ::ray::IntoArg::<T0>::into_arg(__a0); ..` and the dependency list.
pub(crate) fn convert_args(p: &Params) -> TokenStream {
    let names = &p.names;
    let types = &p.types;
    // One check per parameter, spanned on its type: a type that cannot travel is
    // reported at the user's parameter (see `ray::Value`'s diagnostic), first.
    let checks = types
        .iter()
        .map(|ty| quote_spanned!(ty.span()=> ::ray::__private::assert_value::<#ty>();));
    quote!(
        #(#checks)*
        #(let #names = ::ray::IntoArg::<#types>::into_arg(#names);)*
        let __deps = vec![#(#names.dep()),*];
    )
}

/// Reads the arguments of a task from another node out of `bytes` (a `Vec<u8>`) into
/// `Arg`s bound to the parameters' names: a value, or a reference to a large object the
/// task waits for (this node pulls it once; `resolved` lends or copies it as here).
pub(crate) fn read_task_args(bytes: TokenStream, p: &Params) -> TokenStream {
    let reads = p.types.iter().map(|ty| match last_segment_args(ty, "Arc") {
        Some(args) if args.len() == 1 => {
            let inner = &args[0];
            quote!(__reader.read_shared::<#inner>()?)
        }
        _ => quote!(__reader.read_arg::<#ty>()?),
    });
    let names = &p.names;
    quote!(
        let (#(#names,)*) = {
            let mut __reader = ::ray::__private::ArgReader::new(#bytes);
            let __args = (#(#reads,)*);
            __reader.finish()?;
            __args
        };
    )
}

/// Statements that encode the arguments `names` (each an `Arg`, its dependency settled)
/// for the trip to another node and end the enclosing closure with `Ok((bulk, held))`.
pub(crate) fn encode_args(p: &Params) -> TokenStream {
    let names = &p.names;
    // Whether the body reads a stored object in place (borrowed, or a shared pointer).
    let shared = p
        .types
        .iter()
        .zip(&p.lent)
        .map(|(ty, lent)| *lent || is_shared_pointer(ty));
    quote!(
        let mut __writer = ::ray::__private::ArgsWriter::default();
        #(
            let #names = #names.for_encode(#shared)?;
            #names.write(&mut __writer)?;
        )*
        // The resolved arguments stay alive until the call finished remotely: refs nested
        // inside them are fetched from this node meanwhile.
        let __held = (#(#names,)*);
        Ok((__writer.finish(), ::std::boxed::Box::new(__held) as ::ray::__private::Held))
    )
}

/// The task error for a body's `Err(e)` (`e` in scope), keeping `e`'s source chain
/// whatever its type (see `__private::ErrChain`).
pub(crate) fn task_error(function: TokenStream) -> TokenStream {
    quote!({
        #[allow(unused_imports)]
        use ::ray::__private::{ChainOfDisplay as _, ChainOfDynError as _, ChainOfError as _};
        (&&&::ray::__private::ErrChain(&e)).task_error(#function)
    })
}
