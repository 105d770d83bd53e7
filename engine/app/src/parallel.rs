//! Work split over the cores: one slice per thread, results in order, the
//! first error wins. The machines this runs on have few cores, so one
//! scoped thread per core is all the scheduling needed.

/// How many threads to use for `len` items.
pub fn threads_for(len: usize) -> usize {
    std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(len.max(1))
}

/// Runs `f(slice index, slice)` over `items` cut into one slice per thread
/// and returns the results in slice order. A panicking worker becomes
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
    let threads = threads.clamp(1, items.len().max(1));
    let size = items.len().div_ceil(threads).max(1);
    let (f, lost) = (&f, &lost);
    let results: Vec<Result<U, E>> = std::thread::scope(|s| {
        let handles: Vec<_> = items
            .chunks(size)
            .enumerate()
            .map(|(i, part)| s.spawn(move || f(i, part)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err(lost())))
            .collect()
    });
    results.into_iter().collect()
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
}
