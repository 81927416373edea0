//! Window assignment on event time: tumbling and sliding windows as pure functions.
//!
//! Windows are aligned to the epoch: a window of size S sliding by P starts at multiples of P and
//! covers `[start, start + S)`. Tumbling windows are the case P = S. Times are microseconds.
//!
//! Slices (stream slicing, as in Scotty and Flink's slice assigners) are the pieces of the time line
//! between consecutive window boundaries, starts and ends alike: every window is a whole number of
//! slices, and every time lies in exactly one slice, so a reading updates one slice however many
//! windows overlap. Within each slide period there are at most two: the boundaries are the multiples
//! of P, and those shifted by S mod P.

use thiserror::Error;

/// Invalid window shapes, reported when the configuration is checked.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum WindowError {
    /// Size or slide is zero or negative.
    #[error("window size and slide must be positive")]
    NotPositive,
    /// The slide is longer than the window, which would leave readings in no window at all.
    #[error("the slide ({slide} µs) must not be longer than the window ({size} µs)")]
    SlideTooLong {
        /// Window size.
        size: i64,
        /// Slide.
        slide: i64,
    },
}

/// The shape of event-time windows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct WindowSpec {
    size: i64,
    slide: i64,
}

impl WindowSpec {
    /// Windows of `size` µs starting every `slide` µs (`slide == size`: tumbling).
    pub fn new(size: i64, slide: i64) -> Result<WindowSpec, WindowError> {
        if size <= 0 || slide <= 0 {
            return Err(WindowError::NotPositive);
        }
        if slide > size {
            return Err(WindowError::SlideTooLong { size, slide });
        }
        Ok(WindowSpec { size, slide })
    }

    /// Tumbling windows of `size` µs.
    pub fn tumbling(size: i64) -> Result<WindowSpec, WindowError> {
        WindowSpec::new(size, size)
    }

    /// Window length in µs.
    pub fn size(&self) -> i64 {
        self.size
    }

    /// Distance between window starts in µs.
    pub fn slide(&self) -> i64 {
        self.slide
    }

    /// End (exclusive) of the window starting at `start`.
    pub fn end(&self, start: i64) -> i64 {
        start.saturating_add(self.size)
    }

    /// Starts of every window containing `t`, latest first.
    pub fn starts_of(&self, t: i64) -> impl Iterator<Item = i64> {
        let last = t.div_euclid(self.slide) * self.slide;
        let size = self.size;
        let slide = self.slide;
        (0..).map(move |k: i64| last - k * slide).take_while(move |&start| start > t.saturating_sub(size))
    }

    /// Start of the latest window containing `t` (the first of [`WindowSpec::starts_of`]).
    pub fn last_start(&self, t: i64) -> i64 {
        t.saturating_sub(t.rem_euclid(self.slide))
    }

    /// Where `t` lies: its slice, and the earliest window containing it (the last of
    /// [`WindowSpec::starts_of`]). One call per reading, so it divides as little as it can.
    #[inline]
    pub fn place(&self, t: i64) -> Place {
        let offset = t.rem_euclid(self.slide);
        let last = t.saturating_sub(offset);
        // Window ends fall at the multiples of the slide shifted by size mod slide.
        let shift = self.size % self.slide;
        let slice = if shift != 0 && offset >= shift { last.saturating_add(shift) } else { last };
        // The windows over t start at last, last - slide, … while they still reach past t.
        let earlier = (self.size - 1 - offset) / self.slide;
        Place { slice, first_start: last.saturating_sub(earlier * self.slide) }
    }
}

impl WindowSpec {
    /// The end (exclusive) of the slice starting at `slice`: the next window boundary after it.
    pub fn slice_end(&self, slice: i64) -> i64 {
        let last = slice.saturating_sub(slice.rem_euclid(self.slide));
        let shift = self.size % self.slide;
        if shift != 0 && slice == last {
            last.saturating_add(shift)
        } else {
            last.saturating_add(self.slide)
        }
    }
}

/// Where a time lies among windows and slices: see [`WindowSpec::place`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Place {
    /// Start of its slice: the latest window boundary (start or end) at or before it.
    pub slice: i64,
    /// Start of the earliest window containing it.
    pub first_start: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tumbling_windows_hold_each_time_once() {
        let w = WindowSpec::tumbling(10).unwrap();
        assert_eq!(w.starts_of(0).collect::<Vec<_>>(), [0]);
        assert_eq!(w.starts_of(9).collect::<Vec<_>>(), [0]);
        assert_eq!(w.starts_of(10).collect::<Vec<_>>(), [10]);
        assert_eq!(w.starts_of(-1).collect::<Vec<_>>(), [-10]);
    }

    #[test]
    fn sliding_windows_hold_each_time_size_over_slide_times() {
        let w = WindowSpec::new(10, 5).unwrap();
        assert_eq!(w.starts_of(7).collect::<Vec<_>>(), [5, 0]);
        assert_eq!(w.starts_of(10).collect::<Vec<_>>(), [10, 5]);
        let w = WindowSpec::new(10, 3).unwrap();
        for t in -50..50 {
            let starts: Vec<i64> = w.starts_of(t).collect();
            assert!(starts.iter().all(|&s| s <= t && t < s + 10 && s.rem_euclid(3) == 0), "{t}: {starts:?}");
            let expected = (-60..60).filter(|s: &i64| s.rem_euclid(3) == 0 && *s <= t && t < s + 10).count();
            assert_eq!(starts.len(), expected, "{t}");
        }
    }

    #[test]
    fn slices_are_cut_at_every_window_boundary() {
        for (size, slide) in [(10, 10), (10, 5), (10, 3), (7, 2), (60, 1), (9, 9)] {
            let w = WindowSpec::new(size, slide).unwrap();
            for t in -60..60 {
                let starts: Vec<i64> = w.starts_of(t).collect();
                assert_eq!(w.last_start(t), starts[0], "{size}/{slide} at {t}");
                let place = w.place(t);
                assert_eq!(place.first_start, *starts.last().unwrap(), "{size}/{slide} at {t}");
                // Every time in a slice lies in the same windows as the slice's start.
                let slice = place.slice;
                assert!(slice <= t);
                assert_eq!(w.starts_of(slice).collect::<Vec<_>>(), starts, "{size}/{slide} at {t}");
                // And a slice starts at a boundary: the time before it lies in other windows.
                assert_ne!(w.starts_of(slice - 1).collect::<Vec<_>>(), starts, "{size}/{slide} at {t}");
                // It ends at the next boundary: the last time in it is placed the same.
                let end = w.slice_end(slice);
                assert!(
                    t < end && w.place(end - 1) == place && w.place(end).slice == end,
                    "{size}/{slide} at {t}"
                );
            }
        }
    }

    #[test]
    fn bad_shapes_are_refused() {
        assert_eq!(WindowSpec::new(0, 1), Err(WindowError::NotPositive));
        assert_eq!(WindowSpec::new(5, 10), Err(WindowError::SlideTooLong { size: 5, slide: 10 }));
    }
}
