//! `#[ray::method(streaming)]`: an actor method that returns `impl Iterator<Item = T>`
//! (or, when `async`, `impl Stream<Item = T>`) and whose `remote` gives an
//! `ObjectRefStream<T>`. The call runs on the actor like any other (in order, in its
//! concurrency group) and sends each item as it is produced; for an actor on another
//! node the host parks the stream and the caller pulls it over a channel.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use syn::{FnArg, ImplItemFn, Type};

use crate::util::{convert_args, params, stream_item};

pub(crate) fn method(
    f: &ImplItemFn,
    self_ty: &Type,
    class: &syn::Ident,
    group: usize,
) -> syn::Result<(TokenStream, TokenStream, TokenStream, TokenStream)> {
    let name = &f.sig.ident;
    let vis = &f.vis;
    let stub = format_ident!("__Ray{}_{}", class, name);
    let name_str = name.to_string();
    let p = params(&f.sig)?;
    let (names, types) = (&p.names, &p.types);
    let is_async = f.sig.asyncness.is_some();
    let (item, is_stream) = stream_item(&f.sig.output)?;
    if is_stream && !is_async {
        return Err(syn::Error::new_spanned(
            &f.sig.output,
            "a sync streaming method returns `impl Iterator<Item = T>`; make it `async` to return a `Stream`",
        ));
    }
    let push = if is_async {
        quote!(::ray::__private::stream_send_async(&__tx, __item).await?;)
    } else {
        quote!(::ray::__private::stream_send(&__tx, __item)?;)
    };
    let each = if is_stream {
        quote!(
            let mut __s = ::std::pin::pin!(__out);
            while let Some(__item) = ::ray::__private::StreamExt::next(&mut __s).await { #push }
        )
    } else {
        quote!(for __item in __out { #push })
    };
    let send = quote!({
        #each
        Ok(vec![::ray::__private::stored(())])
    });
    // The body's error (a failed argument, a stopped consumer) ends the stream.
    let convert = if is_async {
        quote!((async || -> ::ray::__private::TaskOutput { #send })().await)
    } else {
        quote!((|| -> ::ray::__private::TaskOutput { #send })())
    };
    let function = quote!(concat!(stringify!(#class), ".", #name_str));
    let mutable =
        matches!(f.sig.inputs.first(), Some(FnArg::Receiver(rc)) if rc.mutability.is_some());
    let extra = is_async.then(|| (quote!(__tx: ::ray::__private::StreamSender), quote!(__tx)));
    let body =
        crate::actor::method_body_with(f, self_ty, &p, (&function, &convert, mutable), extra);
    let convert_in = convert_args(&p);
    let encode = crate::util::encode_args(&p);
    let item_fn = format_ident!("__ray_item_{}_{}", class, name);
    let (field, init, stub_struct) = crate::actor::stub_parts(vis, name, &stub, self_ty);
    let stub_def = quote!(
        #stub_struct

        #[doc(hidden)]
        #[allow(non_snake_case)]
        fn #item_fn(__bytes: &[u8]) -> ::ray::Result<::ray::__private::StoredValue> {
            let __item: #item = ::ray::__private::decode(__bytes)?;
            Ok(::ray::__private::stored(__item))
        }

        impl #stub {
            /// Calls the streaming method on the actor; returns its stream at once.
            #[allow(dead_code, clippy::let_unit_value)]
            #vis fn remote(&self, #(#names: impl ::ray::IntoArg<#types>),*) -> ::ray::ObjectRefStream<#item> {
                #convert_in
                if ::ray::__private::is_remote(&self.cell) {
                    let __ticket = ::ray::__private::call_remote::<#self_ty>(&self.cell, #name_str, __deps, 1, move || {
                        #encode
                    }, ::ray::__private::decode_ticket);
                    return ::ray::__private::pull_stream(&self.cell, __ticket, #item_fn);
                }
                let (__tx, mut __stream) = ::ray::__private::stream_channel::<#item>(None);
                let __raws = ::ray::__private::call::<#self_ty>(&self.cell, #name_str, __deps, 1, #group, #body);
                ::ray::__private::attach_stream(&mut __stream, __raws);
                __stream
            }
        }
    );
    Ok((field, init, stub_def, quote!()))
}
