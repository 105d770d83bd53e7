//! Work split over the cores on rayon's pool: one slice per core, results
//! in order, the first error wins, a panicking slice becomes an error.
//! (It replaced one scoped thread per slice: settling 133,000 workers took
//! 4.00–4.21 s on rayon against 4.80–4.95 s, docs/performance.md.)

/// How many threads to use for `len` items.
pub fn threads_for(len: usize) -> usize {
    std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(len.max(1))
}

/// Runs `f(slice index, slice)` over `items` cut into one slice per thread
/// and returns the results in slice order. A panicking slice becomes
/// `lost()`.
pub fn map_slices<T, U, E>(
    items: &[T],
    lost: impl Fn() -> E + Sync,
    f: impl Fn(usize, &[T]) -> Result<U, E> + Sync,
) -> Result<Vec<U>, E>
where
    T: Sync,
    U: Send,
    E: Send,
{
    map_slices_on(items, threads_for(items.len()), lost, f)
}

/// [`map_slices`] on at most `threads` threads.
pub fn map_slices_on<T, U, E>(
    items: &[T],
    threads: usize,
    lost: impl Fn() -> E + Sync,
    f: impl Fn(usize, &[T]) -> Result<U, E> + Sync,
) -> Result<Vec<U>, E>
where
    T: Sync,
    U: Send,
    E: Send,
{
    use rayon::prelude::*;
    let threads = threads.clamp(1, items.len().max(1));
    let size = items.len().div_ceil(threads).max(1);
    items
        .par_chunks(size)
        .enumerate()
        .map(|(i, part)| {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(i, part)))
                .unwrap_or_else(|_| Err(lost()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_come_back_in_order_and_errors_win() {
        let items: Vec<u32> = (0..1000).collect();
        let sums = map_slices(&items, || "lost", |_, s| Ok::<u32, &str>(s.iter().sum())).unwrap();
        assert_eq!(sums.iter().sum::<u32>(), 499_500);
        let e = map_slices(
            &items,
            || "lost",
            |i, _| if i == 1 { Err("bad") } else { Ok(i) },
        );
        assert!(e.is_err() || threads_for(1000) == 1);
        let empty: Vec<u32> = Vec::new();
        assert_eq!(
            map_slices(&empty, || "lost", |_, _| Ok::<u8, &str>(1)).unwrap(),
            Vec::<u8>::new()
        );
    }

    #[test]
    fn a_panicking_slice_is_an_error_not_a_crash() {
        let items: Vec<u32> = (0..100).collect();
        let r = map_slices_on(
            &items,
            2,
            || "lost",
            |i, _| {
                assert!(i != 1, "slice 1 fails");
                Ok::<usize, &str>(i)
            },
        );
        assert_eq!(r, Err("lost"));
    }
}
