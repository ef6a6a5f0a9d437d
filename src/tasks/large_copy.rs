//! The warning for a large copy: an owned parameter (`values: Vec<f64>`) given a ref to
//! a large stored object gets a copy of it on every call, where a borrowed one
//! (`values: &[f64]`) reads the object in place. The first such copy of each function
//! logs one `warn` naming the function, the size and the borrowed form to declare;
//! later ones are silent. The threshold is the node's (`Config::large_copy_warning_bytes`,
//! 64 MiB by default), kept by its store.

use std::collections::HashSet;

use parking_lot::Mutex;

use crate::store::MemoryStore;

/// Where an owned parameter is resolved: what the warning names. Built by the generated
/// code for each owned parameter.
#[doc(hidden)]
#[derive(Debug)]
pub struct CopySite {
    /// `module_path!()` of the function (with `function`, what "once" is counted by).
    pub module: &'static str,
    /// The function (`total`) or method (`Class.method`, `Class::new`).
    pub function: &'static str,
    /// The parameter's name.
    pub param: &'static str,
    /// The parameter's type, as written.
    pub ty: &'static str,
    /// The borrowed form to declare instead ("`&[f64]` (or `&Vec<f64>`)").
    pub instead: &'static str,
}

/// The functions that already warned.
static WARNED: Mutex<Option<HashSet<(&'static str, &'static str)>>> = Mutex::new(None);

/// A copy of `size` bytes was made for `site` from an object of `store`: warns if it is
/// large and the function has not warned yet.
pub(crate) fn copied(site: &CopySite, size: usize, store: &MemoryStore) {
    if size < store.large_copy_warning() {
        return;
    }
    let first = WARNED
        .lock()
        .get_or_insert_with(HashSet::new)
        .insert((site.module, site.function));
    if first {
        tracing::warn!(
            function = site.function,
            bytes = size,
            "`{}` copied a {} argument `{}: {}`; declare it {} to read it in place \
             (an owned parameter copies a stored object on every call)",
            site.function,
            human(size),
            site.param,
            site.ty,
            site.instead,
        );
    }
}

/// `size` bytes for a person: "100 MiB", "1.5 GiB", "512 KiB".
fn human(size: usize) -> String {
    const UNITS: [(&str, usize); 3] = [("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)];
    for (unit, scale) in UNITS {
        if size >= scale {
            let n = (size as f64 / scale as f64 * 10.0).round() / 10.0;
            return if n.fract() == 0.0 || n >= 100.0 {
                format!("{n:.0} {unit}")
            } else {
                format!("{n:.1} {unit}")
            };
        }
    }
    format!("{size} bytes")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(human(100 << 20), "100 MiB");
        assert_eq!(human(3 << 29), "1.5 GiB");
        assert_eq!(human(512 << 10), "512 KiB");
        assert_eq!(human(800_000_000), "763 MiB");
        assert_eq!(human((13 << 20) - 1000), "13 MiB");
        assert_eq!(human(12), "12 bytes");
    }
}
