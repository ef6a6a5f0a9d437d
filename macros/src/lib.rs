//! Procedural macros of the `ray` crate: `#[ray::remote]` on functions and on actor
//! `impl` blocks, and `#[ray::main]`. The generated code only calls `ray::__private`, so
//! the runtime can change behind it.

mod actor;
mod actor_stream;
mod function;
mod groups;
mod util;

use proc_macro::TokenStream;

/// Makes a function a remote task, or an `impl` block an actor class.
///
/// On a `fn` (sync or `async`): `f.remote(args)` submits the task and returns an
/// `ObjectRef`; `f.options()...remote(args)` sets resources and retries; `f::call(args)`
/// runs the original function locally. Attributes: `num_returns = N` (the function
/// returns an `N`-tuple and `remote` returns a tuple of refs) and `streaming` (the function
/// returns `impl Iterator<Item = T>` or `impl Stream<Item = T>` and `remote` returns an
/// `ObjectRefStream<T>`).
///
/// Parameters are owned (`values: Vec<f64>`) or borrowed (`values: &[f64]`, `v: &Vec<f64>`,
/// `s: &str`, `x: &T` for any task value `T`); either way the caller passes a value or an
/// `ObjectRef`/`&ObjectRef` of the owned form (`Vec<f64>`, `String`, `T`). A borrowed
/// parameter reads the stored object in place for the duration of the call: no copy in
/// the process (the call holds the store's `Arc`, the one `ObjectRef::get_arc` gives).
/// An owned parameter gets a copy of a stored object on every call (a large one logs a
/// warning naming the borrowed form, see `Config::large_copy_warning_bytes`); an
/// `Arc<T>` parameter shares it too. On another node the arguments arrive encoded and are
/// decoded once per call: a borrowed parameter is lent that value. A borrow cannot
/// outlive the call (no `&mut`, no lifetimes, no borrowed results): such code fails to
/// compile at the parameter or the line that keeps it.
///
/// On an `impl` block with a `new` constructor: `Type::remote(args)` creates the actor,
/// `Type::options()...remote(args)` with options, and every method with a `self`
/// receiver is callable as `handle.method.remote(args)`. Its one attribute,
/// `concurrency_groups(io = 2, compute = 4)` (Ray's `concurrency_groups`), declares
/// groups that each run up to their own number of calls at once, independently of each
/// other; a method joins one with `#[ray::method(concurrency_group = "io")]`, and methods
/// without one are in the default group, which runs up to the actor's `max_concurrency`.
/// A limit must be an integer of at least 1 and a name may appear once. See the crate's
/// README, "Concurrency groups", for an example.
#[proc_macro_attribute]
pub fn remote(attr: TokenStream, item: TokenStream) -> TokenStream {
    let result = if let Ok(item) = syn::parse::<syn::ItemImpl>(item.clone()) {
        actor::expand(attr.into(), item)
    } else {
        match syn::parse::<syn::ItemFn>(item) {
            Ok(f) => function::expand(attr.into(), f),
            Err(e) => Err(syn::Error::new(
                e.span(),
                "#[ray::remote] goes on a `fn` or on an actor's `impl` block",
            )),
        }
    };
    result.unwrap_or_else(|e| e.to_compile_error()).into()
}

/// Options of one actor method, inside a `#[ray::remote]` `impl` block:
/// `num_returns = N` (the method returns an `N`-tuple; `remote` gives a tuple of refs),
/// `streaming` (it returns `impl Iterator<Item = T>` or `impl Stream<Item = T>`;
/// `remote` gives an `ObjectRefStream<T>`) and `concurrency_group = "name"` (one of the
/// groups the `impl`'s `#[ray::remote(concurrency_groups(..))]` declares: naming another
/// fails to compile). A `&mut self` method needs the instance alone, so it may only be in
/// a group of 1 (or the default group); it still waits for every running call.
///
/// `#[ray::remote]` on the `impl` reads and removes it; anywhere else it is an error.
#[proc_macro_attribute]
pub fn method(_attr: TokenStream, item: TokenStream) -> TokenStream {
    let mut out: TokenStream = syn::Error::new(
        proc_macro2::Span::call_site(),
        "#[ray::method] goes on a method inside a #[ray::remote] impl block, below that attribute",
    )
    .to_compile_error()
    .into();
    out.extend(item);
    out
}

/// Runs `main` inside a Ray runtime: `ray::init()` before, `ray::shutdown()` after.
/// Works on `fn main` and `async fn main`.
#[proc_macro_attribute]
pub fn main(_attr: TokenStream, item: TokenStream) -> TokenStream {
    let f = syn::parse_macro_input!(item as syn::ItemFn);
    let attrs = &f.attrs;
    let vis = &f.vis;
    let body = &f.block;
    let output = &f.sig.output;
    let ret = match output {
        syn::ReturnType::Default => quote::quote!(()),
        syn::ReturnType::Type(_, t) => quote::quote!(#t),
    };
    let run = if f.sig.asyncness.is_some() {
        quote::quote!(::ray::__private::block_on(async move #body))
    } else {
        quote::quote!((move || -> #ret #body)())
    };
    quote::quote!(
        #(#attrs)*
        #vis fn main() #output {
            if let Err(e) = ::ray::init() {
                panic!("ray::init failed: {e}");
            }
            let __ray_result: #ret = #run;
            ::ray::shutdown();
            __ray_result
        }
    )
    .into()
}
