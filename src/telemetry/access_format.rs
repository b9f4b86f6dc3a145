//! The text format of log lines, with a short way for the access line.
//!
//! Every line is written as tracing-subscriber's default (`Full`) format
//! writes it. The access line (`answered`, once per request) is most of
//! what a hot request costs beyond the kernel, and the default formatter
//! routes every piece of it (level, span name, braces, colons, each field
//! name and `=`) through `nu_ansi_term` styling that writes nothing when
//! ANSI is off: 15.6% of a hot request's instructions, 6.2% of them the
//! styling (BENCHMARKS.md, fourth round). So the access line, with ANSI
//! off, is written here byte for byte as the default would write it; every
//! other line, and every line on a terminal, goes to the default.

use std::cell::Cell;
use std::fmt;

use chrono::Datelike;

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::format::{DefaultFields, Format, Full, Writer};
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

/// The target of the access line's events (the module that writes them,
/// as the default target would name it): how the formatter knows them.
pub const ACCESS_TARGET: &str = "pricepool::api::spans";

/// The text format: the default, and the access line without styling.
#[derive(Default)]
pub(crate) struct TextLines {
    full: Format<Full, SystemTime>,
}

impl<S, N> FormatEvent<S, N> for TextLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        if writer.has_ansi_escapes() || meta.target() != ACCESS_TARGET {
            return self.full.format_event(ctx, writer, event);
        }
        if !write_timestamp(&mut writer, std::time::SystemTime::now())? {
            // Before 1970 or after 9999: the default's spelling.
            if SystemTime.format_time(&mut writer).is_err() {
                writer.write_str("<unknown time>")?;
            }
        }
        writer.write_str(level_str(*meta.level()))?;
        if let Some(scope) = ctx.event_scope() {
            let mut seen = false;
            for span in scope.from_root() {
                writer.write_str(span.metadata().name())?;
                seen = true;
                let extensions = span.extensions();
                if let Some(fields) = extensions.get::<FormattedFields<N>>()
                    && !fields.is_empty()
                {
                    writer.write_char('{')?;
                    writer.write_str(fields)?;
                    writer.write_char('}')?;
                }
                writer.write_char(':')?;
            }
            if seen {
                writer.write_char(' ')?;
            }
        }
        writer.write_str(meta.target())?;
        writer.write_str(": ")?;
        let mut fields = PlainFields {
            writer: &mut writer,
            first: true,
            result: Ok(()),
        };
        event.record(&mut fields);
        fields.result?;
        writer.write_char('\n')
    }
}

thread_local! {
    /// The second last formatted on this thread and its text up to the
    /// fraction (`2026-11-30T18:27:50.`): a thread writes many lines a
    /// second, and the calendar arithmetic is done once per second.
    static SECOND: Cell<(u64, [u8; 20])> = const { Cell::new((u64::MAX, [0; 20])) };
}

/// Writes `now` as the default timer does (RFC 3339, UTC, microseconds:
/// `2026-11-30T18:27:50.890277Z`). False, having written nothing, for an
/// instant outside 1970..=9999, which the caller leaves to the default.
pub(super) fn write_timestamp(
    writer: &mut Writer<'_>,
    now: std::time::SystemTime,
) -> Result<bool, fmt::Error> {
    let Ok(since_epoch) = now.duration_since(std::time::UNIX_EPOCH) else {
        return Ok(false);
    };
    let seconds = since_epoch.as_secs();
    let (cached, mut prefix) = SECOND.get();
    if cached != seconds {
        let Some(time) = i64::try_from(seconds)
            .ok()
            .and_then(|seconds| chrono::DateTime::from_timestamp(seconds, 0))
            .filter(|time| time.year() <= 9999)
        else {
            return Ok(false);
        };
        let text = time.format("%Y-%m-%dT%H:%M:%S.").to_string();
        let Ok(text) = <[u8; 20]>::try_from(text.as_bytes()) else {
            return Ok(false);
        };
        prefix = text;
        SECOND.set((seconds, prefix));
    }
    let mut fraction = *b"000000Z";
    let mut micros = since_epoch.subsec_micros();
    for digit in fraction[..6].iter_mut().rev() {
        *digit = b'0' + (micros % 10) as u8;
        micros /= 10;
    }
    // Both are ASCII by construction.
    writer.write_str(std::str::from_utf8(&prefix).map_err(|_| fmt::Error)?)?;
    writer.write_str(std::str::from_utf8(&fraction).map_err(|_| fmt::Error)?)?;
    Ok(true)
}

/// The text format's field formatter: the default's output, written
/// without its styling when ANSI is off for fields that need nothing
/// special (no message, no error, no raw or `log.` names): the request
/// span's `request_id`, formatted whenever a request's span opens, was
/// 3.4% of a hot request with the default (BENCHMARKS.md, fourth round).
/// Everything else goes to the default.
#[derive(Default)]
pub(crate) struct TextFields {
    default: DefaultFields,
}

impl<'writer> FormatFields<'writer> for TextFields {
    fn format_fields<R: RecordFields>(
        &self,
        mut writer: Writer<'writer>,
        fields: R,
    ) -> fmt::Result {
        let mut plain_enough = PlainEnough(true);
        fields.record(&mut plain_enough);
        if writer.has_ansi_escapes() || !plain_enough.0 {
            return self.default.format_fields(writer, fields);
        }
        let mut plain = PlainFields {
            writer: &mut writer,
            first: true,
            result: Ok(()),
        };
        fields.record(&mut plain);
        plain.result
    }
}

/// Whether [`PlainFields`] writes these fields as the default does.
struct PlainEnough(bool);

impl Visit for PlainEnough {
    fn record_error(&mut self, _field: &Field, _value: &(dyn std::error::Error + 'static)) {
        self.0 = false;
    }

    fn record_debug(&mut self, field: &Field, _value: &dyn fmt::Debug) {
        let name = field.name();
        if name == "message" || name.starts_with("r#") || name.starts_with("log.") {
            self.0 = false;
        }
    }
}

/// The level as the default writes it (right-aligned in five), with the
/// space between timestamp and level before it and the one after it.
fn level_str(level: Level) -> &'static str {
    match level {
        Level::TRACE => " TRACE ",
        Level::DEBUG => " DEBUG ",
        Level::INFO => "  INFO ",
        Level::WARN => "  WARN ",
        Level::ERROR => " ERROR ",
    }
}

/// Writes an event's fields as the default field formatter does with ANSI
/// off: space-separated, the message bare, others `name=value` with the
/// value's `Debug` (strings quoted and escaped).
struct PlainFields<'w, 'a> {
    writer: &'w mut Writer<'a>,
    first: bool,
    result: fmt::Result,
}

impl PlainFields<'_, '_> {
    /// Starts a field: the separating space, and `name=` unless it is the
    /// message. False when an earlier write failed.
    fn start(&mut self, field: &Field) -> bool {
        if self.result.is_err() {
            return false;
        }
        if !self.first {
            self.result = self.writer.write_char(' ');
        }
        self.first = false;
        if field.name() != "message" {
            self.result = self
                .result
                .and_then(|()| self.writer.write_str(field.name()))
                .and_then(|()| self.writer.write_char('='));
        }
        self.result.is_ok()
    }
}

impl Visit for PlainFields<'_, '_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if !self.start(field) {
            return;
        }
        self.result = if field.name() == "message" {
            self.writer.write_str(value)
        } else if value
            .bytes()
            .all(|byte| (b' '..=b'~').contains(&byte) && byte != b'"' && byte != b'\\')
        {
            // What `Debug` writes for a string it need not escape.
            self.writer
                .write_char('"')
                .and_then(|()| self.writer.write_str(value))
                .and_then(|()| self.writer.write_char('"'))
        } else {
            write!(self.writer, "{value:?}")
        };
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        if self.start(field) {
            self.result = self.writer.write_str(itoa::Buffer::new().format(value));
        }
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        if self.start(field) {
            self.result = self.writer.write_str(itoa::Buffer::new().format(value));
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if self.start(field) {
            self.result = write!(self.writer, "{value:?}");
        }
    }
}
