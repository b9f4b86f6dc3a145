//! The render cache's own tests: reuse by revision, assemblies, the bound.

use super::*;
use crate::store::fixtures;
use std::cell::Cell;

/// The kept whole body of `view` over the range of `home` at `revision`.
fn get(
    cache: &RenderCache,
    view: View,
    home: &HomeInfo,
    range: (DateTime<Utc>, DateTime<Utc>),
    revision: u64,
) -> Option<Rendered> {
    match cache.find(view, home, range, revision) {
        Some(Found::Body(rendered)) => Some(rendered),
        _ => None,
    }
}

fn range() -> (DateTime<Utc>, DateTime<Utc>) {
    let start = fixtures::day_start();
    (start, start + chrono::TimeDelta::days(1))
}

/// What a range handler does: the kept body, else render and keep.
fn get_or_render(
    cache: &RenderCache,
    view: View,
    home: &HomeInfo,
    range: (DateTime<Utc>, DateTime<Utc>),
    revision: Option<u64>,
    render: impl FnOnce() -> Vec<u8>,
) -> Rendered {
    revision
        .and_then(|revision| get(cache, view, home, range, revision))
        .unwrap_or_else(|| cache.render_and_keep(view, home, range, revision, render))
}

#[test]
fn the_same_revision_is_rendered_once_and_a_new_one_again() {
    let cache = RenderCache::default();
    let home = fixtures::home("a");
    let renders = Cell::new(0);
    let render = |text: &'static str| {
        renders.set(renders.get() + 1);
        text.as_bytes().to_vec()
    };
    let first = get_or_render(&cache, View::Intervals, &home, range(), Some(7), || {
        render("one")
    });
    let again = get_or_render(&cache, View::Intervals, &home, range(), Some(7), || {
        render("never")
    });
    assert_eq!(renders.get(), 1);
    assert_eq!(again.body, first.body);
    assert_eq!(again.etag(), first.etag());
    assert_eq!(
        get(&cache, View::Intervals, &home, range(), 7).map(|r| r.body),
        Some(first.body.clone())
    );

    // The pool changed (a fetch, an eviction): rendered afresh, new ETag,
    // and the old body is not served for the new revision.
    assert!(get(&cache, View::Intervals, &home, range(), 8).is_none());
    let changed = get_or_render(&cache, View::Intervals, &home, range(), Some(8), || {
        render("two")
    });
    assert_eq!(renders.get(), 2);
    assert_eq!(&changed.body[..], b"two");
    assert_ne!(changed.etag(), first.etag());

    // Another view, zone or range is another body.
    get_or_render(&cache, View::Rates, &home, range(), Some(8), || render("r"));
    let moved = HomeInfo {
        zone: chrono_tz::Europe::Oslo,
        ..home.clone()
    };
    assert!(get(&cache, View::Rates, &moved, range(), 8).is_none());
    get_or_render(&cache, View::Rates, &moved, range(), Some(8), || {
        render("o")
    });
    let (start, end) = range();
    get_or_render(
        &cache,
        View::Rates,
        &moved,
        (start, end + chrono::TimeDelta::hours(1)),
        Some(8),
        || render("l"),
    );
    assert_eq!(renders.get(), 5);
}

#[test]
fn an_assembly_is_found_while_its_chunks_are_kept_and_never_keeps_one_alive() {
    let cache = RenderCache::default();
    let home = fixtures::home("a");
    let day = range();
    let chunk = Rendered::new(vec![b'1'; 1000]);
    let kept = cache.keep_chunk(&home, day, 3, &chunk);
    cache.keep_assembly(&home, day, 3, Bytes::from_static(b"head"), &[kept], 42);
    let Some(Found::Assembly { head, chunks, hash }) = cache.find(View::Intervals, &home, day, 3)
    else {
        panic!("the assembly is kept");
    };
    assert_eq!((&head[..], hash), (&b"head"[..], 42));
    assert_eq!(chunks.len(), 1);
    assert_eq!(chunks[0].body, chunk.body);
    assert!(cache.find(View::Intervals, &home, day, 4).is_none());
    // The chunk's bytes are weighed once, in the chunk's entry.
    let two_entries = 2 * ("a".len() + "EUR".len() + ENTRY_OVERHEAD_BYTES) as u64;
    let weighed = cache.weighted_bytes();
    assert!(weighed < two_entries + 1000 + 100, "{weighed}");

    // An assembly holds its chunks weakly: once the cache that kept a chunk
    // lets it go, the assembly no longer finds it, having kept nothing
    // alive. (A chunk evicted from the same cache goes the same way;
    // dropping the whole cache is the shortest way to let it go.)
    let other = RenderCache::default();
    let gone = other.keep_chunk(&home, day, 5, &chunk);
    cache.keep_assembly(&home, day, 5, Bytes::from_static(b"head"), &[gone], 43);
    assert!(cache.find(View::Intervals, &home, day, 5).is_some());
    drop(other);
    assert!(cache.find(View::Intervals, &home, day, 5).is_none());
}

#[test]
fn answers_without_a_revision_are_not_kept() {
    let cache = RenderCache::default();
    let home = fixtures::home("a");
    let body = get_or_render(&cache, View::Intervals, &home, range(), None, || {
        b"partial".to_vec()
    });
    assert_eq!(&body.body[..], b"partial");
    assert!(cache.is_empty());
}

#[test]
fn the_cache_stays_within_its_capacity() {
    let home = fixtures::home("a");
    // Body, the id, the currency, the allowance.
    let one_entry = 1000 + "a".len() + "EUR".len() + ENTRY_OVERHEAD_BYTES;
    let cache = RenderCache::new(3 * one_entry as u64);
    let day = chrono::TimeDelta::days(1);
    for n in 0..50 {
        let start = range().0 + day * n;
        get_or_render(
            &cache,
            View::Intervals,
            &home,
            (start, start + day),
            Some(1),
            || vec![b' '; 1000],
        );
        assert!(cache.weighted_bytes() <= 3 * one_entry as u64, "after {n}");
    }
    assert!((1..=3).contains(&cache.len()), "{} kept", cache.len());

    let nothing = RenderCache::new(0);
    get_or_render(&nothing, View::Intervals, &home, range(), Some(1), || {
        vec![b' '; 10]
    });
    assert!(nothing.is_empty());
}

#[test]
fn entries_nobody_asks_for_go_after_the_idle_minutes_and_asked_ones_stay() {
    let cache = RenderCache::default();
    let home = fixtures::home("a");
    let day = chrono::TimeDelta::days(1);
    let first = range();
    let second = (first.0 + day, first.1 + day);
    // Both kept in minute 0 (the cache was just made).
    for range in [first, second] {
        cache.keep(
            View::Intervals,
            &home,
            range,
            1,
            &Rendered::new(b"{}".to_vec()),
        );
    }
    // The first is asked for again in minute 10, the second never.
    assert!(
        cache
            .entry_at(
                RenderCache::key(View::Intervals, &home, first),
                &home,
                1,
                10
            )
            .is_some()
    );
    cache.sweep_idle(IDLE_MINUTES - 1);
    assert_eq!(cache.len(), 2, "nothing idle for the whole timeout yet");
    cache.sweep_idle(IDLE_MINUTES);
    assert_eq!(cache.len(), 1, "the one idle since minute 0 went");
    let asked = cache.entry_at(
        RenderCache::key(View::Intervals, &home, first),
        &home,
        1,
        IDLE_MINUTES,
    );
    assert!(asked.is_some(), "the one asked for in minute 10 stayed");
    drop(asked);
    cache.sweep_idle(2 * IDLE_MINUTES);
    assert!(cache.is_empty());

    // A chunk reached only through its assembly stays while the assembly
    // is asked for.
    let chunk = cache.keep_chunk(&home, first, 1, &Rendered::new(b"[1]".to_vec()));
    cache.keep_assembly(&home, first, 1, Bytes::from_static(b"{"), &[chunk], 7);
    let later = 2 * IDLE_MINUTES + 10;
    assert!(
        cache
            .find_at(View::Intervals, &home, first, 1, later)
            .is_some()
    );
    cache.sweep_idle(later + 5);
    assert!(
        cache
            .find_at(View::Intervals, &home, first, 1, later + 5)
            .is_some(),
        "the chunk went with the sweep"
    );
}

#[test]
fn a_polled_assembly_keeps_its_chunks_when_once_asked_bodies_push_for_room() {
    let home = fixtures::home("a");
    let one_entry = (1000 + "a".len() + "EUR".len() + ENTRY_OVERHEAD_BYTES) as u64;
    let cache = RenderCache::new(8 * one_entry);
    let day = chrono::TimeDelta::days(1);
    let (first, second) = (range(), (range().0 + day, range().1 + day));
    let chunks = [first, second]
        .map(|day| cache.keep_chunk(&home, day, 1, &Rendered::new(vec![b'1'; 1000])));
    let polled = (first.0, second.1);
    cache.keep_assembly(&home, polled, 1, Bytes::from_static(b"{"), &chunks, 7);
    drop(chunks);
    // Polled in the following minutes (each poll reaches the chunks only
    // through the assembly), while a scan of once-asked bodies (other
    // homes' history, say) passes through the cache many times over.
    for minute in 1..=40 {
        assert!(
            cache
                .find_at(View::Intervals, &home, polled, 1, minute)
                .is_some(),
            "the polled range lost a chunk by minute {minute}"
        );
        let start = range().0 + day * (10 + minute as i32);
        cache.keep(
            View::Intervals,
            &home,
            (start, start + day),
            1,
            &Rendered::new(vec![b' '; 1000]),
        );
    }
}
