//! [`family!`]: declares a family of ranker features, each feature's name written beside
//! the expression that computes it, so a name and its value cannot drift apart. Used by
//! `features` for the session and item families and by each retrieval source and feature
//! scorer (`candidates`) for its own.

/// Declares a family of features: `NAMES`, the names in row order, and a function that
/// computes the values, each written beside its name. The function runs its `let`
/// statements, then returns the values as an array as long as `NAMES`.
macro_rules! family {
    (
        $(#[$doc:meta])*
        $vis:vis $names:ident;
        fn $fun:ident($($arg:ident: $ty:ty),* $(,)?) {
            $(let $bind:pat = $init:expr;)*
        }
        [$($name:literal => $value:expr),+ $(,)?]
    ) => {
        $(#[$doc])*
        $vis const $names: [&str; $crate::family::family!(@count $($name)+)] = [$($name),+];

        #[inline(always)]
        fn $fun($($arg: $ty),*) -> [f32; $crate::family::family!(@count $($name)+)] {
            $(let $bind = $init;)*
            [$($value),+]
        }
    };
    (@count $($name:literal)+) => { <[()]>::len(&[$($crate::family::family!(@unit $name)),+]) };
    (@unit $name:literal) => { () };
}

pub(crate) use family;

/// How many names `parts` hold in all: the length of [`concat`]'s result.
pub const fn total(parts: &[&[&str]]) -> usize {
    let (mut n, mut p) = (0, 0);
    while p < parts.len() {
        n += parts[p].len();
        p += 1;
    }
    n
}

/// `parts` one after the other (at compile time): the names of families in row order.
pub const fn concat<const N: usize>(parts: &[&[&'static str]]) -> [&'static str; N] {
    let mut out = [""; N];
    let (mut at, mut p) = (0, 0);
    while p < parts.len() {
        let mut i = 0;
        while i < parts[p].len() {
            out[at] = parts[p][i];
            at += 1;
            i += 1;
        }
        p += 1;
    }
    assert!(at == N, "the families do not add up to the row's length");
    out
}
