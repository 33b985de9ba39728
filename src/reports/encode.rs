//! Writers: a report frame and its template to CSV (RFC 4180) or JSON (`{"reportItems":[…]}`).
//!
//! Output is a pure function of the frame, the template, the period and the options, so the
//! same inputs give the same bytes. CSV cells that a spreadsheet would execute as a formula
//! (leading `=`, `+`, `-`, `@`, tab or CR) get a leading `'` unless the caller turns that off.

use std::io::Write;

use polars::prelude::*;

use super::template::{Format, Source, Template, TemplateColumn, ValueType};
use crate::time::{self, Millis};

/// Errors of the render stage.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// A template names a frame column that does not exist or has another type.
    #[error("template `{template}`, column `{key}`: {message}")]
    Column { template: String, key: String, message: String },
    /// Polars refused an operation.
    #[error("report `{template}`")]
    Polars {
        template: String,
        #[source]
        source: PolarsError,
    },
    /// Writing to the in-memory buffer failed.
    #[error("report `{template}`: {message}")]
    Write { template: String, message: String },
}

/// Options of the writers.
#[derive(Debug, Clone, Copy)]
pub struct EncodeOptions {
    /// Prefix CSV cells that start like a spreadsheet formula with `'` (default on).
    pub neutralise_formulas: bool,
}

impl Default for EncodeOptions {
    fn default() -> Self {
        EncodeOptions { neutralise_formulas: true }
    }
}

/// A rendered report body.
#[derive(Debug, Clone)]
pub struct Rendered {
    pub bytes: Vec<u8>,
    pub rows: usize,
}

/// One column of values, read once per report.
enum Reader {
    Str(StringChunked),
    Int(Int64Chunked),
    Bool(BooleanChunked),
    Const(String),
}

/// A cell, before it is printed.
enum Cell<'a> {
    Null,
    Text(&'a str),
    Owned(String),
    Int(i64),
    Bool(bool),
    Json(&'a str),
}

fn readers(
    df: &DataFrame,
    template: &Template,
    format: Format,
    period: (Millis, Millis),
) -> Result<Vec<(TemplateColumn, Reader)>, RenderError> {
    let mut out = Vec::new();
    for c in template.columns_for(format) {
        let err =
            |message: String| RenderError::Column { template: template.name.clone(), key: c.key.clone(), message };
        let reader = match &c.source {
            Source::PeriodStart => Reader::Const(time::format_seconds(period.0)),
            Source::PeriodEnd => Reader::Const(time::format_seconds(period.1)),
            Source::Period => {
                Reader::Const(format!("{} - {}", time::format_seconds(period.0), time::format_seconds(period.1)))
            }
            Source::Column(name) => {
                let column = df
                    .column(name)
                    .map_err(|_| err(format!("the `{}` frame has no column `{name}`", template.frame)))?;
                let series = column.as_materialized_series();
                let polars = |source| RenderError::Polars { template: template.name.clone(), source };
                match (c.value_type, series.dtype()) {
                    (ValueType::String | ValueType::Json, DataType::String) => {
                        Reader::Str(series.str().map_err(polars)?.rechunk().into_owned())
                    }
                    (ValueType::Integer | ValueType::Duration, DataType::Int64) => {
                        Reader::Int(series.i64().map_err(polars)?.rechunk().into_owned())
                    }
                    (ValueType::Integer, DataType::UInt32 | DataType::Int32 | DataType::UInt64) => {
                        let cast = series.cast(&DataType::Int64).map_err(polars)?;
                        Reader::Int(cast.i64().map_err(polars)?.rechunk().into_owned())
                    }
                    (ValueType::Timestamp, DataType::Datetime(TimeUnit::Milliseconds, _)) => {
                        let cast = series.cast(&DataType::Int64).map_err(polars)?;
                        Reader::Int(cast.i64().map_err(polars)?.rechunk().into_owned())
                    }
                    (ValueType::Boolean, DataType::Boolean) => {
                        Reader::Bool(series.bool().map_err(polars)?.rechunk().into_owned())
                    }
                    (t, d) => {
                        return Err(err(format!("type `{t:?}` cannot print frame column `{name}` of dtype {d}")));
                    }
                }
            }
        };
        out.push((c.clone(), reader));
    }
    Ok(out)
}

fn cell<'a>(column: &TemplateColumn, reader: &'a Reader, row: usize) -> Cell<'a> {
    match reader {
        Reader::Const(s) => Cell::Text(s),
        Reader::Str(ca) => match ca.get(row) {
            None => Cell::Null,
            Some(s) if column.value_type == ValueType::Json => Cell::Json(s),
            Some(s) => Cell::Text(s),
        },
        Reader::Bool(ca) => ca.get(row).map_or(Cell::Null, Cell::Bool),
        Reader::Int(ca) => match (ca.get(row), column.value_type) {
            (None, _) => Cell::Null,
            (Some(v), ValueType::Timestamp) => Cell::Owned(time::format_millis(v)),
            (Some(v), ValueType::Duration) => Cell::Owned(time::format_hms(v)),
            (Some(v), _) => Cell::Int(v),
        },
    }
}

/// Renders a report frame (already filtered and sorted) with a template.
pub fn render(
    df: &DataFrame,
    template: &Template,
    format: Format,
    period: (Millis, Millis),
    opts: EncodeOptions,
) -> Result<Rendered, RenderError> {
    let readers = readers(df, template, format, period)?;
    let rows = df.height();
    let write_err =
        |e: &dyn std::fmt::Display| RenderError::Write { template: template.name.clone(), message: e.to_string() };
    let bytes = match format {
        Format::Csv => {
            let mut w = csv::WriterBuilder::new()
                .quote_style(csv::QuoteStyle::Always)
                .terminator(csv::Terminator::CRLF)
                .from_writer(Vec::with_capacity(rows * 512 + 1024));
            w.write_record(readers.iter().map(|(c, _)| c.header.as_str())).map_err(|e| write_err(&e))?;
            let mut record: Vec<std::borrow::Cow<str>> = Vec::with_capacity(readers.len());
            for row in 0..rows {
                record.clear();
                for (c, r) in &readers {
                    let text: std::borrow::Cow<str> = match cell(c, r, row) {
                        Cell::Null => "".into(),
                        Cell::Text(s) | Cell::Json(s) => s.into(),
                        Cell::Owned(s) => s.into(),
                        Cell::Int(v) => v.to_string().into(),
                        Cell::Bool(b) => if b { "true" } else { "false" }.into(),
                    };
                    let text = if opts.neutralise_formulas
                        && matches!(c.value_type, ValueType::String | ValueType::Json)
                        && starts_like_formula(&text)
                    {
                        format!("'{text}").into()
                    } else {
                        text
                    };
                    record.push(text);
                }
                w.write_record(record.iter().map(|s| s.as_bytes())).map_err(|e| write_err(&e))?;
            }
            w.into_inner().map_err(|e| write_err(&e.error().to_string()))?
        }
        Format::Json => {
            let mut out = Vec::with_capacity(rows * 1024 + 32);
            out.extend_from_slice(b"{\"reportItems\":[");
            for row in 0..rows {
                if row > 0 {
                    out.push(b',');
                }
                out.push(b'{');
                for (i, (c, r)) in readers.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    serde_json::to_writer(&mut out, &c.key).map_err(|e| write_err(&e))?;
                    out.push(b':');
                    match cell(c, r, row) {
                        Cell::Null => out.extend_from_slice(b"null"),
                        Cell::Text(s) => serde_json::to_writer(&mut out, s).map_err(|e| write_err(&e))?,
                        Cell::Owned(s) => serde_json::to_writer(&mut out, &s).map_err(|e| write_err(&e))?,
                        Cell::Json(s) => out.extend_from_slice(s.as_bytes()),
                        Cell::Int(v) => write!(out, "{v}").map_err(|e| write_err(&e))?,
                        Cell::Bool(b) => out.extend_from_slice(if b { b"true" } else { b"false" }),
                    }
                }
                out.push(b'}');
            }
            out.extend_from_slice(b"]}\n");
            out
        }
    };
    Ok(Rendered { bytes, rows })
}

/// Whether a spreadsheet would read this cell as a formula.
pub fn starts_like_formula(s: &str) -> bool {
    matches!(s.as_bytes().first(), Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template() -> Template {
        Template::parse(
            "T",
            r#"name = "T"
kind = "job"
frame = "f"
description = "d"
[[columns]]
key = "a"
header = "A"
source = "a"
type = "string"
[[columns]]
key = "n"
header = "N"
source = "n"
type = "integer"
[[columns]]
key = "o"
header = "O"
source = "o"
type = "json"
formats = ["json"]
"#,
        )
        .unwrap()
    }

    fn frame() -> DataFrame {
        df!("a" => [Some("=SUM(A1)"), Some("x, \"y\""), None], "n" => [Some(1i64), None, Some(-3)], "o" => [Some("{\"k\":\"v\"}"), None, None]).unwrap()
    }

    #[test]
    fn csv_quotes_everything_and_neutralises_formulas() {
        let out = render(&frame(), &template(), Format::Csv, (0, 0), EncodeOptions::default()).unwrap();
        let text = String::from_utf8(out.bytes).unwrap();
        assert_eq!(text, "\"A\",\"N\"\r\n\"'=SUM(A1)\",\"1\"\r\n\"x, \"\"y\"\"\",\"\"\r\n\"\",\"-3\"\r\n");
        let raw =
            render(&frame(), &template(), Format::Csv, (0, 0), EncodeOptions { neutralise_formulas: false }).unwrap();
        assert!(String::from_utf8(raw.bytes).unwrap().contains("\"=SUM(A1)\""));
    }

    #[test]
    fn json_keeps_key_order_types_and_nulls() {
        let out = render(&frame(), &template(), Format::Json, (0, 0), EncodeOptions::default()).unwrap();
        let text = String::from_utf8(out.bytes).unwrap();
        assert_eq!(
            text,
            "{\"reportItems\":[{\"a\":\"=SUM(A1)\",\"n\":1,\"o\":{\"k\":\"v\"}},{\"a\":\"x, \\\"y\\\"\",\"n\":null,\"o\":null},{\"a\":null,\"n\":-3,\"o\":null}]}\n"
        );
    }

    #[test]
    fn a_missing_column_is_named() {
        let df = df!("a" => ["x"]).unwrap();
        let err = render(&df, &template(), Format::Csv, (0, 0), EncodeOptions::default()).unwrap_err();
        assert_eq!(err.to_string(), "template `T`, column `n`: the `f` frame has no column `n`");
    }
}
