//! `#[ray::remote]` on a `fn`: a unit struct named like the function, with `remote`,
//! `options` and `call` (the original body, run locally).

use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use syn::ItemFn;

use crate::util::{convert_args, params, returns, stream_item};

pub(crate) fn expand(attr: TokenStream, f: ItemFn) -> syn::Result<TokenStream> {
    let attrs = crate::util::call_attrs(attr, false)?;
    let name = &f.sig.ident;
    let name_str = name.to_string();
    let vis = &f.vis;
    let docs: Vec<_> = f
        .attrs
        .iter()
        .filter(|a| a.path().is_ident("doc"))
        .collect();
    let other_attrs: Vec<_> = f
        .attrs
        .iter()
        .filter(|a| !a.path().is_ident("doc"))
        .collect();
    let p = params(&f.sig)?;
    let names = &p.names;
    let types = &p.types;
    let is_async = f.sig.asyncness.is_some();
    let options = format_ident!("__ray_options_{}", name);
    let mut call_sig = f.sig.clone();
    call_sig.ident = format_ident!("call");
    let block = &f.block;
    let convert_in = convert_args(&p);
    let resolved = p.resolved(&quote!(#name_str));
    // Borrowed parameters lend the stored object (the store's `Arc`, held by the call).
    let shared = p.passed_shared();
    let take = quote!(
        let (#(#names,)*) = match if __keep { __slot.clone() } else { __slot.take() } {
            Some(a) => a,
            None => return Err(::ray::Error::InvalidArgument("task arguments were already consumed".into())),
        };
        #(let #names = #resolved?;)*
    );
    let arg_tuple_ty = quote!(Option<(#(::ray::Arg<#types>,)*)>);

    let mut registration = quote!();
    let (ret_ty, submit) = if attrs.streaming {
        let g = streaming(&f, &p, &take, &arg_tuple_ty, &options)?;
        registration = g.registration;
        (g.ret_ty, g.submit)
    } else {
        let r = returns(&f.sig.output, attrs.num_returns, &name_str)?;
        let convert = &r.convert;
        let count = r.count;
        let build = &r.build;
        let value_ty = &r.value_ty;
        let unwrap = &r.unwrap;
        let store = &r.store;
        let body_fn = format_ident!("__ray_remote_body_{}", name);
        let decode_fn = format_ident!("__ray_remote_decode_{}", name);
        let declared = &p.declared;
        let signature = quote!(#(#declared),* -> #value_ty).to_string();
        let read = crate::util::read_task_args(quote!(__args), &p);
        let remote_body = if is_async {
            quote!(
                ::ray::__private::RemoteBody::Async(Box::new(move || ::std::boxed::Box::pin(async move {
                    #(let #names = #resolved?;)*
                    let __out = #name::call(#(#shared),*).await;
                    #unwrap
                    ::ray::__private::encode(&__out)
                })))
            )
        } else {
            quote!(
                ::ray::__private::RemoteBody::Sync(Box::new(move || -> ::ray::Result<Vec<u8>> {
                    #(let #names = #resolved?;)*
                    let __out = #name::call(#(#shared),*);
                    #unwrap
                    ::ray::__private::encode(&__out)
                }))
            )
        };
        registration = quote!(
            #[doc(hidden)]
            #[allow(non_snake_case)]
            fn #body_fn(__args: Vec<u8>) -> ::ray::Result<::ray::__private::RemoteCall> {
                #read
                let __deps = vec![#(#names.dep()),*];
                Ok(::ray::__private::RemoteCall::new(__deps, #remote_body))
            }

            #[doc(hidden)]
            #[allow(non_snake_case)]
            fn #decode_fn(__bytes: &[u8]) -> ::ray::Result<Vec<::ray::__private::StoredValue>> {
                let __out: #value_ty = ::ray::__private::decode(__bytes)?;
                #store
            }

            ::ray::__private::inventory::submit! {
                ::ray::__private::RemoteFunction {
                    name: concat!(module_path!(), "::", #name_str),
                    signature: #signature,
                    body: #body_fn,
                    decode: #decode_fn,
                }
            }
        );
        let encode = crate::util::encode_args(&p);
        let encode_args = quote!(
            let __enc = __slot.clone();
            let __remote = ::ray::__private::RemoteForm::new(
                concat!(module_path!(), "::", #name_str),
                move || {
                    let (#(#names,)*) = ::ray::__private::take_args(&__enc, false)
                        .ok_or_else(::ray::__private::consumed)?;
                    #encode
                },
                #decode_fn,
            );
        );
        let run = if is_async {
            quote!(
                async fn __run(__slot: #arg_tuple_ty) -> ::ray::__private::TaskOutput {
                    let __keep = false;
                    let mut __slot = __slot;
                    #take
                    let __out = #name::call(#(#shared),*).await;
                    #convert
                }
                #encode_args
                let __raws = ::ray::__private::submit_async(#name_str, &self.0, __deps, #count, move |__keep| {
                    ::std::boxed::Box::pin(__run(::ray::__private::take_args(&__slot, __keep)))
                }, Some(__remote));
            )
        } else {
            quote!(
                fn __run(__slot: #arg_tuple_ty) -> ::ray::__private::TaskOutput {
                    let __keep = false;
                    let mut __slot = __slot;
                    #take
                    let __out = #name::call(#(#shared),*);
                    #convert
                }
                #encode_args
                let __raws = ::ray::__private::submit_sync(#name_str, &self.0, __deps, #count, move |__keep| {
                    __run(::ray::__private::take_args(&__slot, __keep))
                }, Some(__remote));
            )
        };
        (
            r.ref_type.clone(),
            quote!(
                let __slot = ::std::sync::Arc::new(::ray::__private::Mutex::new(Some((#(#names,)*))));
                #run
                let mut __it = __raws.into_iter();
                #build
            ),
        )
    };

    Ok(quote!(
        #(#docs)*
        #[allow(non_camel_case_types)]
        #[derive(Clone, Copy, Debug, Default)]
        #vis struct #name;

        impl #name {
            /// Runs the function locally, in the calling thread.
            #(#other_attrs)*
            #[allow(dead_code)]
            #vis #call_sig #block

            /// Submits the function as a task; returns at once.
            #[allow(dead_code)]
            #vis fn remote(&self, #(#names: impl ::ray::IntoArg<#types>),*) -> #ret_ty {
                self.options().remote(#(#names),*)
            }

            /// Per-call options (resources, retries, name); finish with `.remote(..)`.
            #[allow(dead_code)]
            #vis fn options(&self) -> #options {
                #options(::ray::TaskOptions::default())
            }
        }

        #[doc(hidden)]
        #[allow(non_camel_case_types)]
        #[must_use = "options do nothing until `.remote(..)` submits the task"]
        #vis struct #options(::ray::TaskOptions);

        impl ::ray::TaskOptionsBuilder for #options {
            fn task_options(&mut self) -> &mut ::ray::TaskOptions {
                &mut self.0
            }
        }

        impl #options {
            /// Submits the task with these options.
            #[allow(unused_mut, clippy::let_unit_value)]
            #vis fn remote(self, #(#names: impl ::ray::IntoArg<#types>),*) -> #ret_ty {
                #convert_in
                #submit
            }
        }

        #registration
    ))
}

/// What a streaming function expands to.
struct Streaming {
    ret_ty: TokenStream,
    submit: TokenStream,
    registration: TokenStream,
}

/// `#[ray::remote(streaming)]`: the body sends each item through the stream's sender
/// (waiting while the consumer is `generator_backpressure_num_objects` behind); placed
/// on another node, the generator is started there by name (`RemoteGenerator`) and its
/// items come back through the cluster agent's stream pump.
fn streaming(
    f: &ItemFn,
    p: &crate::util::Params,
    take: &TokenStream,
    arg_tuple_ty: &TokenStream,
    options: &syn::Ident,
) -> syn::Result<Streaming> {
    let name = &f.sig.ident;
    let name_str = name.to_string();
    let names = &p.names;
    let shared = p.passed_shared();
    let is_async = f.sig.asyncness.is_some();
    let (item, is_stream) = stream_item(&f.sig.output)?;
    let run = if is_stream || is_async {
        let produce = if is_async {
            quote!(#name::call(#(#shared),*).await)
        } else {
            quote!(#name::call(#(#shared),*))
        };
        quote!(
            async fn __run(__slot: #arg_tuple_ty, __tx: ::std::sync::Arc<::ray::__private::StreamSender>) -> ::ray::__private::TaskOutput {
                let __keep = false;
                let mut __slot = __slot;
                #take
                let __stream = #produce;
                let mut __stream = ::std::pin::pin!(__stream);
                while let Some(__item) = ::ray::__private::StreamExt::next(&mut __stream).await {
                    ::ray::__private::stream_send_async(&__tx, __item).await?;
                }
                Ok(vec![::ray::__private::stored(())])
            }
            let __tx = ::std::sync::Arc::new(__tx);
            let __raws = ::ray::__private::submit_async(#name_str, &self.0, __deps, 1, move |_| {
                ::std::boxed::Box::pin(__run(::ray::__private::take_args(&__slot, false), __tx.clone()))
            }, Some(__remote));
        )
    } else {
        quote!(
            fn __run(__slot: #arg_tuple_ty, __tx: &::ray::__private::StreamSender) -> ::ray::__private::TaskOutput {
                let __keep = false;
                let mut __slot = __slot;
                #take
                for __item in #name::call(#(#shared),*) {
                    ::ray::__private::stream_send(__tx, __item)?;
                }
                Ok(vec![::ray::__private::stored(())])
            }
            let __raws = ::ray::__private::submit_sync(#name_str, &self.0, __deps, 1, move |_| {
                __run(::ray::__private::take_args(&__slot, false), &__tx)
            }, Some(__remote));
        )
    };
    let item_fn = format_ident!("__ray_stream_item_{}", name);
    let start_fn = format_ident!("__ray_stream_start_{}", name);
    let encode = crate::util::encode_args(p);
    // As a plain task's: a large argument comes as a ref, pulled here before it starts.
    let read = crate::util::read_task_args(quote!(__args), p);
    let declared = &p.declared;
    let signature = quote!(#(#declared),* -> stream #item).to_string();
    let submit = quote!(
        let __slot = ::std::sync::Arc::new(::ray::__private::Mutex::new(Some((#(#names,)*))));
        let (__tx, mut __stream) = ::ray::__private::stream_channel::<#item>(self.0.backpressure());
        let __enc = __slot.clone();
        let __remote = ::ray::__private::stream_form(
            concat!(module_path!(), "::", #name_str),
            move || {
                let (#(#names,)*) = ::ray::__private::take_args(&__enc, false)
                    .ok_or_else(::ray::__private::consumed)?;
                #encode
            },
            __tx.clone(),
            #item_fn,
        );
        #run
        ::ray::__private::attach_stream(&mut __stream, __raws);
        __stream
    );
    let registration = quote!(
        #[doc(hidden)]
        #[allow(non_snake_case)]
        fn #item_fn(__bytes: &[u8]) -> ::ray::Result<::ray::__private::StoredValue> {
            let __item: #item = ::ray::__private::decode(__bytes)?;
            Ok(::ray::__private::stored(__item))
        }

        /// Starts the generator on this node for another node that placed it here.
        #[doc(hidden)]
        #[allow(non_snake_case)]
        fn #start_fn(__args: &[u8], __opts: ::ray::TaskOptions) -> ::ray::Result<::ray::__private::RawStream> {
            #read
            Ok(::ray::__private::raw_stream(#options(__opts).remote(#(#names),*)))
        }

        ::ray::__private::inventory::submit! {
            ::ray::__private::RemoteGenerator {
                name: concat!(module_path!(), "::", #name_str),
                signature: #signature,
                start: #start_fn,
            }
        }
    );
    Ok(Streaming {
        ret_ty: quote!(::ray::ObjectRefStream<#item>),
        submit,
        registration,
    })
}
