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
pub(crate) struct Params {
    pub(crate) names: Vec<Ident>,
    pub(crate) types: Vec<Type>,
}

pub(crate) fn params(sig: &Signature) -> syn::Result<Params> {
    if !sig.generics.params.is_empty() {
        return Err(syn::Error::new_spanned(
            &sig.generics,
            "remote functions cannot be generic: every node must find them by name",
        ));
    }
    let mut names = Vec::new();
    let mut types = Vec::new();
    for arg in &sig.inputs {
        if let FnArg::Typed(pt) = arg {
            if let Type::Reference(_) = &*pt.ty {
                return Err(syn::Error::new_spanned(
                    &pt.ty,
                    "remote parameters must be owned values (they may travel to another process)",
                ));
            }
            names.push(match &*pt.pat {
                syn::Pat::Ident(p) if p.by_ref.is_none() && p.subpat.is_none() => {
                    Ident::new(&p.ident.to_string(), p.ident.span())
                }
                _ => format_ident!("__a{}", names.len()),
            });
            types.push((*pt.ty).clone());
        }
    }
    Ok(Params { names, types })
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

/// Reads the arguments of a call from another node out of `bytes` (a `&[u8]`) as a
/// tuple of `types`: each one decoded on its own, bytes left over an error.
pub(crate) fn decode_args(bytes: TokenStream, types: &[Type]) -> TokenStream {
    quote!({
        let mut __reader = ::ray::__private::ArgReader::new(#bytes);
        let __args = (#(__reader.read::<#types>()?,)*);
        __reader.finish()?;
        __args
    })
}

/// Statements that encode the arguments `names` (each an `Arg`, its dependency settled)
/// for the trip to another node and end the enclosing closure with `Ok((bulk, held))`.
pub(crate) fn encode_args(names: &[Ident]) -> TokenStream {
    quote!(
        let mut __writer = ::ray::__private::ArgsWriter::default();
        #(
            let #names = #names.for_encode()?;
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
