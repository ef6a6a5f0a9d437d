//! `#[ray::remote]` on an actor's `impl` block: `Type::remote(..)` / `Type::options()`
//! to create it, a method-stub struct reached through `ActorHandle`'s `Deref`, and the
//! `RemoteActor` impl tying them together.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use std::collections::HashMap;

use syn::{FnArg, ImplItem, ImplItemFn, ItemImpl, Meta, Type};

use crate::util::{CallAttrs, call_attrs, convert_args, params, result_ok_type, returns};

pub(crate) fn expand(attr: TokenStream, mut item: ItemImpl) -> syn::Result<TokenStream> {
    // `new` is the actor constructor by convention; a `Default` impl is not expected.
    item.attrs
        .push(syn::parse_quote!(#[allow(clippy::new_without_default)]));
    let groups = crate::groups::declared(attr)?;
    if !item.generics.params.is_empty() || item.trait_.is_some() {
        return Err(syn::Error::new_spanned(
            &item.self_ty,
            "actor classes are inherent impls of non-generic types",
        ));
    }
    let calls = take_method_attrs(&mut item)?;
    let self_ty = &item.self_ty;
    let Type::Path(tp) = &**self_ty else {
        return Err(syn::Error::new_spanned(self_ty, "expected a type name"));
    };
    let Some(class) = tp.path.segments.last().map(|s| s.ident.clone()) else {
        return Err(syn::Error::new_spanned(self_ty, "expected a type name"));
    };
    let class_str = class.to_string();
    let methods_ty = format_ident!("__Ray{}Methods", class);
    let options_ty = format_ident!("__Ray{}Options", class);

    let fns: Vec<&ImplItemFn> = item
        .items
        .iter()
        .filter_map(|i| {
            if let ImplItem::Fn(f) = i {
                Some(f)
            } else {
                None
            }
        })
        .collect();
    let Some(ctor) = fns
        .iter()
        .find(|f| f.sig.ident == "new" && f.sig.receiver().is_none())
    else {
        return Err(syn::Error::new_spanned(
            self_ty,
            "an actor class needs a constructor `fn new(..) -> Self`",
        ));
    };
    let create = constructor(ctor, &class, &class_str, &options_ty)?;

    let mut fields = Vec::new();
    let mut inits = Vec::new();
    let mut stubs = Vec::new();
    let mut arms = Vec::new();
    let mut dag_arms = Vec::new();
    let mut signatures = vec![signature_of(ctor)?];
    let mut has_async = false;
    for f in fns.iter().filter(|f| f.sig.receiver().is_some()) {
        has_async |= f.sig.asyncness.is_some();
        let attrs = &calls[&f.sig.ident.to_string()];
        let group = crate::groups::index_of(f, attrs.concurrency_group.as_ref(), &groups)?;
        let (field, init, stub, dag_arm) = if attrs.streaming {
            crate::actor_stream::method(f, self_ty, &class, group)?
        } else {
            method(f, self_ty, &class, attrs, group)?
        };
        dag_arms.push(dag_arm);
        fields.push(field);
        inits.push(init);
        stubs.push(stub);
        arms.push(dispatch_arm(f, attrs)?);
        signatures.push(signature_of(f)?);
    }
    let signature = signatures.join("; ");
    let groups_const = crate::groups::constant(&groups);
    let vis = &ctor.vis;
    let create_fn = format_ident!("__ray_create_{}", class);
    let ctor_p = params(&ctor.sig)?;
    let ctor_names = &ctor_p.names;
    // As a method's: a large argument comes as a ref, pulled here before the
    // constructor runs.
    let read = crate::util::read_task_args(quote!(__args), &ctor_p);

    Ok(quote!(
        #item

        #create

        #[doc(hidden)]
        #[allow(non_camel_case_types, non_snake_case)]
        #vis struct #methods_ty {
            #(#fields,)*
        }

        #(#stubs)*

        impl ::ray::RemoteActor for #self_ty {
            type Methods = #methods_ty;
            const CLASS: &'static str = #class_str;
            const PATH: &'static str = concat!(module_path!(), "::", #class_str);
            const HAS_ASYNC: bool = #has_async;
            #groups_const
            fn methods(__cell: &::std::sync::Arc<::ray::__private::ActorCell<Self>>) -> #methods_ty {
                #methods_ty { #(#inits,)* }
            }
            fn dispatch(
                __h: &::ray::ActorHandle<Self>,
                __method: &str,
                __args: &[u8],
            ) -> ::ray::Result<Vec<::ray::__private::RawRefHandle>> {
                match __method {
                    #(#arms)*
                    _ => Err(::ray::__private::no_method(#class_str, __method)),
                }
            }
            fn part_actor(
                __h: ::ray::ActorHandle<Self>,
            ) -> ::std::boxed::Box<dyn ::std::any::Any + ::std::marker::Send> {
                ::ray::__private::part_actor(__h)
            }
            #[allow(unreachable_code, clippy::let_unit_value, clippy::unit_arg)]
            fn dag_call(
                __this: &mut Self,
                __method: &str,
                __args: Vec<Vec<u8>>,
            ) -> ::ray::Result<Vec<u8>> {
                let mut __it = __args.into_iter();
                match __method {
                    #(#dag_arms)*
                    _ => Err(::ray::__private::no_method(#class_str, __method)),
                }
            }
        }

        /// Creates the actor on this node for another node that placed it here.
        #[doc(hidden)]
        #[allow(non_snake_case)]
        fn #create_fn(
            __args: &[u8],
            __opts: ::ray::ActorOptions,
        ) -> ::ray::Result<::ray::__private::Hosted> {
            #read
            Ok(::ray::__private::hosted(#options_ty(__opts).remote(#(#ctor_names),*)))
        }

        ::ray::__private::inventory::submit! {
            ::ray::__private::RemoteClass {
                name: concat!(module_path!(), "::", #class_str),
                signature: #signature,
                create: #create_fn,
            }
        }
    ))
}

/// Removes each method's `#[ray::method(..)]` (it only means something here) and
/// returns what it says, by method name.
fn take_method_attrs(item: &mut ItemImpl) -> syn::Result<HashMap<String, CallAttrs>> {
    let mut out = HashMap::new();
    for it in item.items.iter_mut() {
        let ImplItem::Fn(f) = it else { continue };
        let mut found = None;
        f.attrs.retain(|a| {
            let segs: Vec<String> = a
                .path()
                .segments
                .iter()
                .map(|s| s.ident.to_string())
                .collect();
            let ours = segs == ["ray", "method"] || segs == ["method"];
            if ours {
                found = Some(a.clone());
            }
            !ours
        });
        let tokens = match found.map(|a| a.meta) {
            None | Some(Meta::Path(_)) => TokenStream::new(),
            Some(Meta::List(l)) => l.tokens,
            Some(m @ Meta::NameValue(_)) => {
                return Err(syn::Error::new_spanned(m, "expected `#[ray::method(..)]`"));
            }
        };
        out.insert(f.sig.ident.to_string(), call_attrs(tokens, true)?);
    }
    Ok(out)
}

/// `name(T0, T1) -> R`, for the build fingerprint.
fn signature_of(f: &ImplItemFn) -> syn::Result<String> {
    let p = params(&f.sig)?;
    let types = &p.declared;
    let out = &f.sig.output;
    Ok(format!(
        "{}({}) {}",
        f.sig.ident,
        quote!(#(#types),*),
        quote!(#out)
    ))
}

/// One arm of the by-name dispatch: decode the arguments, call the method's stub.
/// Several returns travel as one tuple (the caller splits it).
fn dispatch_arm(f: &ImplItemFn, attrs: &CallAttrs) -> syn::Result<TokenStream> {
    let name = &f.sig.ident;
    let name_str = name.to_string();
    let p = params(&f.sig)?;
    let names = &p.names;
    // A large object the method reads in place comes as a ref, which this node pulls
    // once; the actor's handle runs the call, in its turn, once the copy is here.
    let read = crate::util::read_task_args(quote!(__args), &p);
    let call = if attrs.num_returns > 1 {
        quote!(__h.#name.__packed(#(#names),*))
    } else if attrs.streaming {
        // The stream waits here for the caller to pull it; the answer names it.
        quote!(::ray::__private::park_stream(__h.#name.remote(#(#names),*)))
    } else {
        quote!(::ray::__private::returns_of(__h.#name.remote(#(#names),*)))
    };
    Ok(quote!(
        #name_str => {
            #read
            Ok(#call)
        }
    ))
}

fn constructor(
    ctor: &ImplItemFn,
    class: &syn::Ident,
    class_str: &str,
    options_ty: &syn::Ident,
) -> syn::Result<TokenStream> {
    let p = params(&ctor.sig)?;
    let names = &p.names;
    let types = &p.types;
    let vis = &ctor.vis;
    let convert_in = convert_args(&p);
    let encode = crate::util::encode_args(&p);
    let ret = match &ctor.sig.output {
        syn::ReturnType::Type(_, t) => (**t).clone(),
        syn::ReturnType::Default => {
            return Err(syn::Error::new_spanned(
                &ctor.sig,
                "`new` must return `Self`",
            ));
        }
    };
    let function = quote!(concat!(#class_str, "::new"));
    let resolved = p.resolved(&function);
    let shared = p.passed_shared();
    let build = if result_ok_type(&ret).is_some() {
        let failed = crate::util::task_error(function);
        quote!(#class::new(#(#shared),*).map_err(|e| #failed))
    } else {
        quote!(Ok(#class::new(#(#shared),*)))
    };
    Ok(quote!(
        impl #class {
            /// Creates the actor with default options; returns its handle at once.
            #[allow(dead_code)]
            #vis fn remote(#(#names: impl ::ray::IntoArg<#types>),*) -> ::ray::ActorHandle<#class> {
                Self::options().remote(#(#names),*)
            }

            /// Creation options (name, restarts, resources); finish with `.remote(..)`.
            #[allow(dead_code)]
            #vis fn options() -> #options_ty {
                #options_ty(::ray::ActorOptions::default())
            }
        }

        #[doc(hidden)]
        #[allow(non_camel_case_types)]
        #[must_use = "options do nothing until `.remote(..)` creates the actor"]
        #vis struct #options_ty(::ray::ActorOptions);

        impl ::ray::ActorOptionsBuilder for #options_ty {
            fn actor_options(&mut self) -> &mut ::ray::ActorOptions {
                &mut self.0
            }
        }

        impl #options_ty {
            /// Creates the actor with these options.
            #vis fn remote(self, #(#names: impl ::ray::IntoArg<#types>),*) -> ::ray::ActorHandle<#class> {
                let (__o, __deps, __ctor, __enc) = self.__parts(#(#names),*);
                ::ray::__private::create_actor::<#class>(&__o, __deps, __ctor, __enc)
            }

            /// Creates the actor with these options without blocking the caller (a named
            /// actor's registration, a placement on another node): for async code. The
            /// creation starts at once; the future gives the handle, or why it failed
            /// (`ActorNameTaken`).
            #[allow(dead_code)]
            #vis fn remote_async(self, #(#names: impl ::ray::IntoArg<#types>),*) -> ::ray::__private::BoxFuture<'static, ::ray::Result<::ray::ActorHandle<#class>>> {
                let (__o, __deps, __ctor, __enc) = self.__parts(#(#names),*);
                ::ray::__private::create_actor_async::<#class>(&__o, __deps, __ctor, __enc)
            }

            /// The options, the constructor's dependencies, the constructor and, for a
            /// placement on another node, the encoding of its arguments.
            #[allow(clippy::type_complexity)]
            fn __parts(self, #(#names: impl ::ray::IntoArg<#types>),*) -> ::ray::__private::CreateParts<#class> {
                #convert_in
                let __args = ::std::sync::Arc::new((#(#names,)*));
                let __enc = __args.clone();
                (self.0, __deps, ::std::boxed::Box::new(move || {
                    let (#(#names,)*) = (*__args).clone();
                    #(let #names = #resolved?;)*
                    #build
                }), ::std::boxed::Box::new(move || {
                    // The actor was placed on another node: its arguments travel.
                    let (#(#names,)*) = (*__enc).clone();
                    #encode
                }))
            }
        }
    ))
}

/// One method: its field on the methods struct, the field's initializer and the stub type.
fn method(
    f: &ImplItemFn,
    self_ty: &Type,
    class: &syn::Ident,
    attrs: &CallAttrs,
    group: usize,
) -> syn::Result<(TokenStream, TokenStream, TokenStream, TokenStream)> {
    let name = &f.sig.ident;
    let vis = &f.vis;
    let stub = format_ident!("__Ray{}_{}", class, name);
    let full_name = format!("{class}.{name}");
    let p = params(&f.sig)?;
    let p_ref = &p;
    let names = &p.names;
    let types = &p.types;
    let name_str = name.to_string();
    let r = returns(&f.sig.output, attrs.num_returns, &full_name)?;
    let value_ty = &r.value_ty;
    let store = &r.store;
    let convert = &r.convert;
    let build = &r.build;
    let ref_ty = &r.ref_type;
    let count = r.count;
    let convert_in = convert_args(&p);
    let encode = crate::util::encode_args(&p);
    let function = quote!(#full_name);
    let mutable =
        matches!(f.sig.inputs.first(), Some(FnArg::Receiver(rc)) if rc.mutability.is_some());
    let make = |convert: &TokenStream| method_body(f, self_ty, p_ref, &function, convert, mutable);
    let method = make(convert);
    // Several returns, packed into one tuple for a caller on another node.
    let unwrap_packed = &r.unwrap;
    let packed = if count > 1 {
        let method = make(&quote!((|| -> ::ray::__private::TaskOutput {
            #unwrap_packed
            Ok(vec![::ray::__private::stored(__out)])
        })()));
        quote!(
            #[doc(hidden)]
            #[allow(dead_code)]
            #vis fn __packed(&self, #(#names: impl ::ray::IntoArg<#types>),*) -> Vec<::ray::__private::RawRefHandle> {
                #convert_in
                ::ray::__private::call::<#self_ty>(&self.cell, #name_str, __deps, 1, #group, #method)
            }
        )
    } else {
        quote!()
    };
    // Compiled graphs (`ray::dag`) run methods with one return value; an async one runs
    // to completion on its loop thread's own event loop.
    let unwrap = &r.unwrap;
    let owned = p.passed_owned();
    let call = if f.sig.asyncness.is_some() {
        quote!(::ray::__private::dag_block_on(__this.#name(#(#owned),*)))
    } else {
        quote!(__this.#name(#(#owned),*))
    };
    // The same call from encoded arguments, for a graph driven from another node.
    let dag_arm = if count == 1 {
        quote!(
            #full_name => {
                #(let #names: #types = match __it.next() {
                    Some(__b) => ::ray::__private::decode(&__b)?,
                    None => return Err(::ray::__private::no_method(#full_name, "(missing argument)")),
                };)*
                let __out = #call;
                #unwrap
                ::ray::__private::encode(&__out)
            }
        )
    } else {
        quote!()
    };
    let bind = if count == 1 {
        quote!(
            /// Binds the method into a compiled graph (`ray::dag`): each argument is the
            /// graph's `InputNode`, another bound call, or a constant.
            #[allow(dead_code, clippy::let_unit_value, clippy::unit_arg)]
            #vis fn bind<__I: ::ray::Value>(&self, #(#names: impl ::ray::dag::IntoNode<__I, #types>),*) -> ::ray::dag::DagNode<__I, #value_ty> {
                let __args = vec![#(::ray::dag::IntoNode::<__I, #types>::into_node(#names).into_core()),*];
                ::ray::__private::dag_bind::<#self_ty, __I, #value_ty>(&self.cell, #full_name, __args, ::std::sync::Arc::new(
                    |__this: &mut #self_ty, __dag_args: &mut ::ray::dag::DagArgs<'_>| -> ::ray::Result<#value_ty> {
                        #(let #names: #types = __dag_args.take()?;)*
                        let __out = #call;
                        #unwrap
                        Ok(__out)
                    }), ::std::sync::Arc::new(
                    |__dag_args: &mut ::ray::dag::DagArgs<'_>| -> ::ray::Result<Vec<Vec<u8>>> {
                        Ok(vec![#(::ray::__private::encode(&__dag_args.take::<#types>()?)?),*])
                    }))
            }
        )
    } else {
        quote!()
    };
    let (field, init, stub_struct) = stub_parts(vis, name, &stub, self_ty);
    let stub_def = quote!(
        #stub_struct

        impl #stub {
            /// Calls the method on the actor; returns at once.
            #[allow(dead_code, clippy::let_unit_value)]
            #vis fn remote(&self, #(#names: impl ::ray::IntoArg<#types>),*) -> #ref_ty {
                #convert_in
                let __raws = if ::ray::__private::is_remote(&self.cell) {
                    fn __decode(__bytes: &[u8]) -> ::ray::Result<Vec<::ray::__private::StoredValue>> {
                        let __out: #value_ty = ::ray::__private::decode(__bytes)?;
                        #store
                    }
                    ::ray::__private::call_remote::<#self_ty>(&self.cell, #name_str, __deps, #count, move || {
                        #encode
                    }, __decode)
                } else {
                    ::ray::__private::call::<#self_ty>(&self.cell, #name_str, __deps, #count, #group, #method)
                };
                let mut __it = __raws.into_iter();
                #build
            }

            #bind

            #packed
        }
    );
    Ok((field, init, stub_def, dag_arm))
}

/// A method's field on the methods struct, its initializer, and its stub's struct (the
/// stub's `impl` is the method kind's own).
pub(crate) fn stub_parts(
    vis: &syn::Visibility,
    name: &syn::Ident,
    stub: &syn::Ident,
    self_ty: &Type,
) -> (TokenStream, TokenStream, TokenStream) {
    (
        quote!(#vis #name: #stub),
        quote!(#name: #stub { cell: __cell.clone() }),
        quote!(
            #[doc(hidden)]
            #[allow(non_camel_case_types)]
            #vis struct #stub {
                cell: ::std::sync::Arc<::ray::__private::ActorCell<#self_ty>>,
            }
        ),
    )
}

/// The closure a local call runs on the actor: resolve the arguments, call, `convert`
/// (`function` names the method in the large-copy warning).
pub(crate) fn method_body(
    f: &ImplItemFn,
    self_ty: &Type,
    p: &crate::util::Params,
    function: &TokenStream,
    convert: &TokenStream,
    mutable: bool,
) -> TokenStream {
    method_body_with(f, self_ty, p, (function, convert, mutable), None)
}

/// [`method_body`] whose async forms also take `extra` (a parameter declaration and the
/// value passed for it: a streaming method's sender).
pub(crate) fn method_body_with(
    f: &ImplItemFn,
    self_ty: &Type,
    p: &crate::util::Params,
    (function, convert, mutable): (&TokenStream, &TokenStream, bool),
    extra: Option<(TokenStream, TokenStream)>,
) -> TokenStream {
    let name = &f.sig.ident;
    let (names, types) = (&p.names, &p.types);
    let (extra_decl, extra_arg) = extra.unwrap_or_default();
    let resolved = p.resolved(function);
    let resolve = quote!(#(let #names = match #resolved { Ok(v) => v, Err(e) => return Err(e) };)*);
    // Borrowed parameters lend the stored object: the closure or future holds its `Arc`.
    let shared = p.passed_shared();
    match (f.sig.asyncness.is_some(), mutable) {
        (false, false) => {
            quote!(::ray::__private::Method::Ref(Box::new(move |__this: &#self_ty| -> ::ray::__private::TaskOutput {
                #resolve
                let __out = __this.#name(#(#shared),*);
                #convert
            })))
        }
        (false, true) => {
            quote!(::ray::__private::Method::Mut(Box::new(move |__this: &mut #self_ty| -> ::ray::__private::TaskOutput {
                #resolve
                let __out = __this.#name(#(#shared),*);
                #convert
            })))
        }
        (true, false) => quote!({
            async fn __run(__this: ::std::sync::Arc<#self_ty>, #(#names: ::ray::Arg<#types>,)* #extra_decl) -> ::ray::__private::TaskOutput {
                #resolve
                let __out = __this.#name(#(#shared),*).await;
                #convert
            }
            ::ray::__private::Method::AsyncRef(Box::new(move |__this| ::std::boxed::Box::pin(__run(__this, #(#names,)* #extra_arg))))
        }),
        (true, true) => quote!({
            async fn __run(mut __this: #self_ty, #(#names: ::ray::Arg<#types>,)* #extra_decl) -> (#self_ty, ::ray::__private::TaskOutput) {
                let __res = (|| -> ::ray::Result<_> { Ok((#(#resolved?,)*)) })();
                let (#(#names,)*) = match __res {
                    Ok(v) => v,
                    Err(e) => return (__this, Err(e)),
                };
                let __out = __this.#name(#(#shared),*).await;
                let __converted = #convert;
                (__this, __converted)
            }
            ::ray::__private::Method::AsyncMut(Box::new(move |__this| ::std::boxed::Box::pin(__run(__this, #(#names,)* #extra_arg))))
        }),
    }
}
