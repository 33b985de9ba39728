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
    /// A built-in template does not load.
    #[error(transparent)]
    Template(#[from] super::template::TemplateError),
    /// Writing to the in-memory buffer failed.
    #[error("report `{template}`: {message}")]
    Write { template: String, message: String },
}

impl RenderError {
    /// Rendering fails only on the tool's own inconsistency (a template and a frame that do
    /// not match) or a Polars failure.
    pub fn kind(&self) -> crate::problem::Kind {
        crate::problem::Kind::Failed
    }
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

/// Rows rendered together, with the end offset of each row, so that a report can be cut
/// between any two rows. In JSON, rows inside a chunk are separated by `,`.
#[derive(Debug, Clone, Default)]
pub struct Chunk {
    pub bytes: Vec<u8>,
    /// `bytes[..ends[i]]` ends with row `i` (its separator, if any, follows).
    pub ends: Vec<u32>,
}

/// A whole rendered report, kept as the chunks it was rendered in: writing `head`, the chunks
/// (joined by `,` in JSON) and `tail` one after the other gives the file. For what is printed
/// at once (`evaluate`, the control report); the report plans stream their rows instead.
#[derive(Debug, Clone)]
pub struct Rendered {
    pub format: Format,
    /// The CSV header line, or `{"reportItems":[`.
    pub head: Vec<u8>,
    pub chunks: Vec<Chunk>,
    /// `]}` and a newline for JSON; empty for CSV.
    pub tail: Vec<u8>,
    pub rows: usize,
}

/// One object of a report: the slices that, written in order, are its body.
#[derive(Debug, Clone, Default)]
pub struct Body<'a> {
    pub slices: Vec<&'a [u8]>,
    pub rows: usize,
}

impl Body<'_> {
    /// The body's size in bytes.
    pub fn len(&self) -> usize {
        self.slices.iter().map(|s| s.len()).sum()
    }

    /// Whether the body is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The body in one buffer (for small bodies and tests).
    pub fn to_vec(&self) -> Vec<u8> {
        self.slices.concat()
    }

    /// Lower-case hex SHA-256 of the body, for the manifest.
    pub fn sha256(&self) -> String {
        use sha2::Digest;
        let mut h = sha2::Sha256::new();
        for s in &self.slices {
            h.update(s);
        }
        hex::encode(h.finalize())
    }
}

impl Rendered {
    /// What separates two chunks: `,` in JSON, nothing in CSV.
    fn joiner(&self) -> &'static [u8] {
        match self.format {
            Format::Csv => b"",
            Format::Json => b",",
        }
    }

    /// The whole report as one body.
    pub fn body(&self) -> Body<'_> {
        let mut slices = vec![self.head.as_slice()];
        for (i, c) in self.chunks.iter().filter(|c| !c.ends.is_empty()).enumerate() {
            if i > 0 && !self.joiner().is_empty() {
                slices.push(self.joiner());
            }
            slices.push(&c.bytes);
        }
        slices.push(&self.tail);
        slices.retain(|s| !s.is_empty());
        Body { slices, rows: self.rows }
    }

    /// The body's size in bytes.
    pub fn len(&self) -> usize {
        let chunks = self.chunks.iter().filter(|c| !c.ends.is_empty());
        let joins = chunks.clone().count().saturating_sub(1) * self.joiner().len();
        self.head.len() + chunks.map(|c| c.bytes.len()).sum::<usize>() + joins + self.tail.len()
    }

    /// Whether the body is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The body in one buffer (for small bodies and tests).
    pub fn to_vec(&self) -> Vec<u8> {
        self.body().to_vec()
    }
}

/// A cell's value, as a report row gives it to the [`Encoder`]; the template column's type
/// says how it is printed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Cell<'a> {
    Null,
    Str(&'a str),
    /// A number, or milliseconds for timestamp and duration columns.
    Int(i64),
    Bool(bool),
}

/// Rows of a report, read one cell at a time: `column` is the position in the template's
/// columns for the format being written ([`Template::columns_for`]).
pub trait Rows: Sync {
    fn len(&self) -> usize;
    fn cell(&self, column: usize, row: usize) -> Cell<'_>;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One column of a Polars frame, read once per report.
enum Reader {
    Str(StringChunked),
    Int(Int64Chunked),
    Bool(BooleanChunked),
    Const(String),
}

/// A report frame as [`Rows`] (the job reports, and `report` of a compliance template).
pub struct FrameRows {
    readers: Vec<Reader>,
    height: usize,
}

impl FrameRows {
    /// Reads the columns `template` prints in `format` from `df`; `period` fills the period
    /// columns.
    pub fn new(
        df: &DataFrame,
        template: &Template,
        format: Format,
        period: (Millis, Millis),
    ) -> Result<FrameRows, RenderError> {
        let mut readers = Vec::new();
        for c in template.columns_for(format) {
            let err =
                |message: String| RenderError::Column { template: template.name.clone(), key: c.key.clone(), message };
            let reader = match &c.source {
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
                other => Reader::Const(period_text(other, period).unwrap_or_default()),
            };
            readers.push(reader);
        }
        Ok(FrameRows { readers, height: df.height() })
    }
}

impl Rows for FrameRows {
    fn len(&self) -> usize {
        self.height
    }

    fn cell(&self, column: usize, row: usize) -> Cell<'_> {
        match &self.readers[column] {
            Reader::Const(s) => Cell::Str(s),
            Reader::Str(ca) => ca.get(row).map_or(Cell::Null, Cell::Str),
            Reader::Int(ca) => ca.get(row).map_or(Cell::Null, Cell::Int),
            Reader::Bool(ca) => ca.get(row).map_or(Cell::Null, Cell::Bool),
        }
    }
}

/// The text of a period column (`@period_start`, `@period_end`, `@period`); `None` for a
/// frame column.
pub fn period_text(source: &Source, period: (Millis, Millis)) -> Option<String> {
    match source {
        Source::PeriodStart => Some(time::format_seconds(period.0)),
        Source::PeriodEnd => Some(time::format_seconds(period.1)),
        Source::Period => Some(format!("{} - {}", time::format_seconds(period.0), time::format_seconds(period.1))),
        Source::Column(_) => None,
    }
}

/// What a cell holds, for the JSON writer.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Shape {
    Null,
    /// Text to be quoted (JSON string).
    Text,
    /// Bytes to be written as they are (numbers, booleans, embedded JSON).
    Raw,
}

/// Writes the text of one cell into `buf` (cleared first) and says what it is.
fn cell_text(column: &TemplateColumn, cell: Cell<'_>, buf: &mut Vec<u8>) -> Shape {
    buf.clear();
    match cell {
        Cell::Null => Shape::Null,
        Cell::Str(s) => {
            buf.extend_from_slice(s.as_bytes());
            if column.value_type == ValueType::Json { Shape::Raw } else { Shape::Text }
        }
        Cell::Bool(b) => {
            buf.extend_from_slice(if b { b"true" } else { b"false" });
            Shape::Raw
        }
        Cell::Int(v) => match column.value_type {
            ValueType::Timestamp => {
                time::write_millis(buf, v);
                Shape::Text
            }
            ValueType::Duration => {
                buf.extend_from_slice(time::format_hms(v).as_bytes());
                Shape::Text
            }
            _ => {
                let _ = write!(buf, "{v}");
                Shape::Raw
            }
        },
    }
}

/// Rows per chunk of parallel rendering. Chunks are joined in order, so the bytes do not
/// depend on the number of threads.
pub const CHUNK_ROWS: usize = 16_384;

fn csv_writer(capacity: usize) -> csv::Writer<Vec<u8>> {
    csv::WriterBuilder::new()
        .quote_style(csv::QuoteStyle::Always)
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::with_capacity(capacity))
}

/// The chunk's row end offsets fit in `u32`: a chunk is at most `CHUNK_ROWS` rows, far below
/// 4 GiB.
fn offset(n: usize) -> u32 {
    u32::try_from(n).expect("a rendered chunk is smaller than 4 GiB")
}

/// Writes rows of one template in one format: the head, rows in chunks, the tail.
pub struct Encoder<'t> {
    template: &'t Template,
    format: Format,
    columns: Vec<&'t TemplateColumn>,
    /// JSON keys, quoted, with their `:`.
    keys: Vec<Vec<u8>>,
    opts: EncodeOptions,
}

impl<'t> Encoder<'t> {
    pub fn new(template: &'t Template, format: Format, opts: EncodeOptions) -> Encoder<'t> {
        let columns: Vec<&TemplateColumn> = template.columns_for(format).collect();
        let keys = columns
            .iter()
            .map(|c| {
                let mut k = serde_json::to_vec(&c.key).unwrap_or_default();
                k.push(b':');
                k
            })
            .collect();
        Encoder { template, format, columns, keys, opts }
    }

    pub fn format(&self) -> Format {
        self.format
    }

    fn write_err(&self, message: String) -> RenderError {
        RenderError::Write { template: self.template.name.clone(), message }
    }

    /// The CSV header line, or `{"reportItems":[`.
    pub fn head(&self) -> Result<Vec<u8>, RenderError> {
        match self.format {
            Format::Csv => {
                let mut w = csv_writer(1024);
                w.write_record(self.columns.iter().map(|c| c.header.as_str()))
                    .map_err(|e| self.write_err(e.to_string()))?;
                w.into_inner().map_err(|e| self.write_err(e.error().to_string()))
            }
            Format::Json => Ok(b"{\"reportItems\":[".to_vec()),
        }
    }

    /// `]}` and a newline for JSON; nothing for CSV.
    pub fn tail(&self) -> Vec<u8> {
        match self.format {
            Format::Csv => Vec::new(),
            Format::Json => b"]}\n".to_vec(),
        }
    }

    /// What separates two rows (and two chunks): `,` in JSON, nothing in CSV.
    pub fn joiner(&self) -> &'static [u8] {
        match self.format {
            Format::Csv => b"",
            Format::Json => b",",
        }
    }

    /// Encodes rows `range` of `rows`.
    pub fn chunk(&self, rows: &dyn Rows, range: std::ops::Range<usize>) -> Result<Chunk, RenderError> {
        match self.format {
            Format::Csv => self.csv_chunk(rows, range),
            Format::Json => self.json_chunk(rows, range),
        }
        .map_err(|m| self.write_err(m))
    }

    fn csv_chunk(&self, rows: &dyn Rows, range: std::ops::Range<usize>) -> Result<Chunk, String> {
        let mut ends = Vec::with_capacity(range.len());
        let mut w = csv_writer(range.len() * 256 + 1024);
        let mut buf = Vec::with_capacity(256);
        let mut quoted = Vec::with_capacity(257);
        for row in range {
            for (i, c) in self.columns.iter().enumerate() {
                cell_text(c, rows.cell(i, row), &mut buf);
                let field = if self.opts.neutralise_formulas
                    && matches!(c.value_type, ValueType::String | ValueType::Json)
                    && starts_like_formula_bytes(&buf)
                {
                    quoted.clear();
                    quoted.push(b'\'');
                    quoted.extend_from_slice(&buf);
                    &quoted
                } else {
                    &buf
                };
                w.write_field(field).map_err(|e| e.to_string())?;
            }
            w.write_record(None::<&[u8]>).map_err(|e| e.to_string())?;
            w.flush().map_err(|e| e.to_string())?;
            ends.push(offset(w.get_ref().len()));
        }
        let bytes = w.into_inner().map_err(|e| e.error().to_string())?;
        Ok(Chunk { bytes, ends })
    }

    fn json_chunk(&self, rows: &dyn Rows, range: std::ops::Range<usize>) -> Result<Chunk, String> {
        let mut ends = Vec::with_capacity(range.len());
        let mut out = Vec::with_capacity(range.len() * 512 + 64);
        let mut buf = Vec::with_capacity(256);
        for (n, row) in range.enumerate() {
            if n > 0 {
                out.push(b',');
            }
            out.push(b'{');
            for (i, (c, key)) in self.columns.iter().zip(&self.keys).enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(key);
                match cell_text(c, rows.cell(i, row), &mut buf) {
                    Shape::Null => out.extend_from_slice(b"null"),
                    Shape::Raw => out.extend_from_slice(&buf),
                    Shape::Text => {
                        let text = std::str::from_utf8(&buf).map_err(|e| e.to_string())?;
                        serde_json::to_writer(&mut out, text).map_err(|e| e.to_string())?;
                    }
                }
            }
            out.push(b'}');
            ends.push(offset(out.len()));
        }
        Ok(Chunk { bytes: out, ends })
    }
}

/// Renders a whole report frame (already filtered and sorted) with a template, in parallel
/// chunks. For what is small or printed at once (`evaluate`, tests); the report plans stream
/// through [`crate::sinks::stream`].
pub fn render(
    df: &DataFrame,
    template: &Template,
    format: Format,
    period: (Millis, Millis),
    opts: EncodeOptions,
) -> Result<Rendered, RenderError> {
    let rows = FrameRows::new(df, template, format, period)?;
    render_rows(&rows, template, format, opts)
}

/// Renders all of `rows` with a template, in parallel chunks.
pub fn render_rows(
    rows: &dyn Rows,
    template: &Template,
    format: Format,
    opts: EncodeOptions,
) -> Result<Rendered, RenderError> {
    use rayon::prelude::*;
    let encoder = Encoder::new(template, format, opts);
    let n = rows.len();
    let ranges: Vec<std::ops::Range<usize>> =
        (0..n.div_ceil(CHUNK_ROWS).max(1)).map(|i| i * CHUNK_ROWS..((i + 1) * CHUNK_ROWS).min(n)).collect();
    let chunks = ranges.into_par_iter().map(|r| encoder.chunk(rows, r)).collect::<Result<Vec<_>, _>>()?;
    Ok(Rendered { format, head: encoder.head()?, chunks, tail: encoder.tail(), rows: n })
}

fn starts_like_formula_bytes(s: &[u8]) -> bool {
    matches!(s.first(), Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r'))
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
        let text = String::from_utf8(out.to_vec()).unwrap();
        assert_eq!(text, "\"A\",\"N\"\r\n\"'=SUM(A1)\",\"1\"\r\n\"x, \"\"y\"\"\",\"\"\r\n\"\",\"-3\"\r\n");
        let raw =
            render(&frame(), &template(), Format::Csv, (0, 0), EncodeOptions { neutralise_formulas: false }).unwrap();
        assert!(String::from_utf8(raw.to_vec()).unwrap().contains("\"=SUM(A1)\""));
    }

    #[test]
    fn json_keeps_key_order_types_and_nulls() {
        let out = render(&frame(), &template(), Format::Json, (0, 0), EncodeOptions::default()).unwrap();
        let text = String::from_utf8(out.to_vec()).unwrap();
        assert_eq!(
            text,
            "{\"reportItems\":[{\"a\":\"=SUM(A1)\",\"n\":1,\"o\":{\"k\":\"v\"}},{\"a\":\"x, \\\"y\\\"\",\"n\":null,\"o\":null},{\"a\":null,\"n\":-3,\"o\":null}]}\n"
        );
    }

    #[test]
    fn csv_round_trips_awkward_values_and_repeats() {
        let values = [
            Some("plain"),
            Some("plain"),
            Some("a \"quoted\", comma"),
            Some("line\nbreak\r\n"),
            Some(""),
            None,
            Some("ünï\"\""),
        ];
        let df = df!("a" => values, "n" => [Some(1i64), Some(1), None, Some(2), Some(2), None, Some(3)], "o" => [None::<&str>; 7]).unwrap();
        let out = render(&df, &template(), Format::Csv, (0, 0), EncodeOptions::default()).unwrap();
        let bytes = out.to_vec();
        let mut reader = csv::ReaderBuilder::new().has_headers(true).from_reader(&bytes[..]);
        let rows: Vec<Vec<String>> =
            reader.records().map(|r| r.unwrap().iter().map(str::to_string).collect()).collect();
        let want: Vec<Vec<String>> = values
            .iter()
            .zip(["1", "1", "", "2", "2", "", "3"])
            .map(|(v, n)| vec![v.unwrap_or_default().to_string(), n.to_string()])
            .collect();
        assert_eq!(rows, want);
    }

    #[test]
    fn a_missing_column_is_named() {
        let df = df!("a" => ["x"]).unwrap();
        let err = render(&df, &template(), Format::Csv, (0, 0), EncodeOptions::default()).unwrap_err();
        assert_eq!(err.to_string(), "template `T`, column `n`: the `f` frame has no column `n`");
    }
}
