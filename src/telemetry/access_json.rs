//! The JSON format of log lines, with a short way for the access line.
//!
//! Every line is written as tracing-subscriber's JSON format (events
//! flattened) writes it. For each line that format parses every span's
//! stored fields back from JSON text, twice (`span` and `spans`), and
//! serializes through serde's map machinery: the JSON access line cost
//! ~35k instructions, a third of a hot request (BENCHMARKS.md, fourth
//! round). So the access line in the request span alone, as `observe`
//! writes it, is written here byte for byte as the default would write it,
//! each value still serialized by `serde_json`; every other line goes to
//! the default.

use std::fmt;

use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::{Format, Json, Writer};
use tracing_subscriber::fmt::time::SystemTime;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

use super::access_format::{ACCESS_TARGET, write_timestamp};

/// The name of the request span `observe` opens (one field, `request_id`).
const REQUEST_SPAN: &str = "request";

/// The JSON format: the default (events flattened), and the access line
/// without the round trips.
pub(crate) struct JsonLines {
    json: Format<Json, SystemTime>,
}

impl Default for JsonLines {
    fn default() -> JsonLines {
        JsonLines {
            json: tracing_subscriber::fmt::format().json().flatten_event(true),
        }
    }
}

impl<S, N> FormatEvent<S, N> for JsonLines
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
        let span = if meta.target() == ACCESS_TARGET && event.is_contextual() {
            ctx.lookup_current()
        } else {
            None
        };
        // Only the request span, alone, with its one field recorded: its
        // stored text is then `{"request_id":"…"}` as serde_json wrote it.
        let span = span.filter(|span| {
            let meta = span.metadata();
            span.parent().is_none()
                && meta.target() == ACCESS_TARGET
                && meta.name() == REQUEST_SPAN
                && meta.fields().len() == 1
        });
        let extensions = span.as_ref().map(|span| span.extensions());
        let span_fields = extensions
            .as_ref()
            .and_then(|extensions| extensions.get::<FormattedFields<N>>())
            .map(|fields| fields.fields.as_str())
            .filter(|fields| fields.starts_with("{\"request_id\":") && fields.ends_with('}'));
        let Some(span_fields) = span_fields else {
            return self.json.format_event(ctx, writer, event);
        };
        writer.write_str("{\"timestamp\":\"")?;
        if !write_timestamp(&mut writer, std::time::SystemTime::now())? {
            return Err(fmt::Error);
        }
        writer.write_str("\",\"level\":\"")?;
        writer.write_str(meta.level().as_str())?;
        writer.write_char('"')?;
        let mut fields = JsonFieldsVisitor {
            writer: &mut writer,
            result: Ok(()),
        };
        event.record(&mut fields);
        fields.result?;
        writer.write_str(",\"target\":")?;
        serialize(&mut writer, meta.target())?;
        // `span` (the current span) and `spans` (root to current): both
        // the request span, its fields and then its name.
        let span_object = &span_fields[..span_fields.len() - 1];
        writer.write_str(",\"span\":")?;
        writer.write_str(span_object)?;
        writer.write_str(",\"name\":\"request\"},\"spans\":[")?;
        writer.write_str(span_object)?;
        writer.write_str(",\"name\":\"request\"}]}\n")
    }
}

/// Writes each event field as `,"name":value`, the value as serde_json
/// writes it (a `Debug` value, the message among them, as a string).
struct JsonFieldsVisitor<'w, 'a> {
    writer: &'w mut Writer<'a>,
    result: fmt::Result,
}

impl JsonFieldsVisitor<'_, '_> {
    fn entry(&mut self, field: &Field, value: &dyn erased::Value) {
        if self.result.is_ok() {
            self.result = self
                .writer
                .write_char(',')
                .and_then(|()| serialize(self.writer, field.name()))
                .and_then(|()| self.writer.write_char(':'))
                .and_then(|()| value.write_json(self.writer));
        }
    }
}

impl Visit for JsonFieldsVisitor<'_, '_> {
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.entry(field, &value);
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.entry(field, &value);
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.entry(field, &value);
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.entry(field, &value);
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.entry(field, &value);
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.entry(field, &format_args!("{value:?}"));
    }
}

/// A serializable value behind `dyn` (serde's `Serialize` is not object
/// safe).
mod erased {
    use std::fmt;

    use tracing_subscriber::fmt::format::Writer;

    /// Writes itself as serde_json does.
    pub(super) trait Value {
        /// Writes the value into the line.
        fn write_json(&self, writer: &mut Writer<'_>) -> fmt::Result;
    }

    impl<T: serde::Serialize + ?Sized> Value for T {
        fn write_json(&self, writer: &mut Writer<'_>) -> fmt::Result {
            super::serialize(writer, self)
        }
    }
}

/// Writes `value` as serde_json does, into the line.
fn serialize<T: serde::Serialize + ?Sized>(writer: &mut Writer<'_>, value: &T) -> fmt::Result {
    serde_json::to_writer(Utf8Adaptor(writer), value).map_err(|_| fmt::Error)
}

/// The line as an `io::Write` for serde_json, which writes whole UTF-8
/// sequences only.
struct Utf8Adaptor<'w, 'a>(&'w mut Writer<'a>);

impl std::io::Write for Utf8Adaptor<'_, '_> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let text = std::str::from_utf8(bytes).map_err(std::io::Error::other)?;
        self.0.write_str(text).map_err(std::io::Error::other)?;
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
