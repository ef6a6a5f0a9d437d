//! Concurrency groups (Ray's `concurrency_groups`): what `#[ray::remote(concurrency_groups
//! (io = 2, ..))]` on an actor's `impl` declares, and the group each method's
//! `#[ray::method(concurrency_group = "io")]` names, checked against it.

use proc_macro2::TokenStream;
use quote::quote;
use syn::{FnArg, Ident, ImplItemFn, Meta, MetaNameValue, Token};

/// One declared group: its name and how many of its calls may run at once.
pub(crate) struct Group {
    pub(crate) name: Ident,
    pub(crate) limit: usize,
}

/// Parses the `impl`'s attribute: nothing, or `concurrency_groups(name = N, ..)`.
pub(crate) fn declared(attr: TokenStream) -> syn::Result<Vec<Group>> {
    if attr.is_empty() {
        return Ok(Vec::new());
    }
    let expected = "expected `concurrency_groups(name = N, ..)` (the only argument of \
                    #[ray::remote] on an impl block)";
    let metas = syn::parse::Parser::parse2(
        syn::punctuated::Punctuated::<Meta, Token![,]>::parse_terminated,
        attr,
    )?;
    let mut groups: Vec<Group> = Vec::new();
    let mut seen_list = false;
    for m in metas {
        let Meta::List(list) = &m else {
            return Err(syn::Error::new_spanned(&m, expected));
        };
        if !list.path.is_ident("concurrency_groups") || seen_list {
            return Err(syn::Error::new_spanned(&m, expected));
        }
        seen_list = true;
        let entries = list.parse_args_with(
            syn::punctuated::Punctuated::<MetaNameValue, Token![,]>::parse_terminated,
        )?;
        for nv in entries {
            groups.push(group(&nv, &groups)?);
        }
    }
    Ok(groups)
}

/// One `name = N` entry, checked against the groups before it.
fn group(nv: &MetaNameValue, before: &[Group]) -> syn::Result<Group> {
    let Some(name) = nv.path.get_ident().cloned() else {
        return Err(syn::Error::new_spanned(
            &nv.path,
            "a concurrency group's name is a plain identifier, as in `io = 2`",
        ));
    };
    if before.iter().any(|g| g.name == name) {
        return Err(syn::Error::new_spanned(
            &name,
            format!("concurrency group `{name}` is declared twice"),
        ));
    }
    let limit = crate::util::positive_int(
        &nv.value,
        &format!("the limit of concurrency group `{name}`"),
    )?;
    Ok(Group { name, limit })
}

/// `const CONCURRENCY_GROUPS` of the `RemoteActor` impl (the trait's default when none).
pub(crate) fn constant(groups: &[Group]) -> TokenStream {
    if groups.is_empty() {
        return quote!();
    }
    let names = groups.iter().map(|g| g.name.to_string());
    let limits = groups.iter().map(|g| g.limit);
    quote!(
        const CONCURRENCY_GROUPS: &'static [(&'static str, usize)] = &[#((#names, #limits)),*];
    )
}

/// The group index a method's calls carry: 0 for the default group, `i + 1` for declared
/// group `i`. Errors at the user's tokens: a group the impl does not declare, or a
/// `&mut self` method in a group whose calls may overlap.
pub(crate) fn index_of(
    f: &ImplItemFn,
    named: Option<&syn::LitStr>,
    groups: &[Group],
) -> syn::Result<usize> {
    let Some(lit) = named else {
        return Ok(0);
    };
    let wanted = lit.value();
    let Some(i) = groups.iter().position(|g| g.name == wanted) else {
        let msg = if groups.is_empty() {
            format!(
                "no concurrency group `{wanted}`: this impl declares none; declare it with \
                 #[ray::remote(concurrency_groups({wanted} = N))]"
            )
        } else {
            let list: Vec<String> = groups.iter().map(|g| format!("`{}`", g.name)).collect();
            format!(
                "no concurrency group `{wanted}`: this impl declares {}",
                list.join(", ")
            )
        };
        return Err(syn::Error::new_spanned(lit, msg));
    };
    let group = &groups[i];
    if let Some(FnArg::Receiver(rc)) = f.sig.inputs.first()
        && rc.mutability.is_some()
        && group.limit > 1
    {
        return Err(syn::Error::new_spanned(
            rc,
            format!(
                "`{}` takes `&mut self`, which needs the actor alone, so its calls can \
                 never overlap as concurrency group `{}` (limit {}) allows: take `&self`, \
                 or put it in a group of 1",
                f.sig.ident, group.name, group.limit
            ),
        ));
    }
    Ok(i + 1)
}
