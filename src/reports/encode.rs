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

/// A rendered report body, kept as the chunks it was rendered in: writing `head`, the chunks
/// (joined by [`Rendered::joiner`]) and `tail` one after the other gives the file, and no copy
/// of a multi-gigabyte body is ever made.
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

    /// Ends a split body: head, rows, tail.
    fn close<'a>(&'a self, cur: &mut Body<'a>, out: &mut Vec<Body<'a>>) {
        let mut body = std::mem::take(cur);
        let mut slices = Vec::with_capacity(body.slices.len() + 2);
        slices.push(self.head.as_slice());
        slices.append(&mut body.slices);
        slices.push(self.tail.as_slice());
        slices.retain(|s| !s.is_empty());
        out.push(Body { slices, rows: body.rows });
    }

    /// Cuts the report between rows into bodies of at most `max_bytes` each, every one a
    /// complete file: CSV parts repeat the header, JSON parts are whole `{"reportItems":[…]}`
    /// documents. A report that fits is one body; a single row larger than the limit is a
    /// body of its own. No byte is copied.
    pub fn split(&self, max_bytes: usize) -> Vec<Body<'_>> {
        if self.len() <= max_bytes {
            return vec![self.body()];
        }
        let frame = self.head.len() + self.tail.len();
        let joiner = self.joiner();
        let mut out = Vec::new();
        let mut cur = Body::default();
        let mut size = frame;
        for chunk in &self.chunks {
            // `start` is the byte where the chunk's next unplaced row begins, `row` its index.
            let (mut start, mut row) = (0usize, 0usize);
            while row < chunk.ends.len() {
                let sep = if cur.rows > 0 { joiner.len() } else { 0 };
                // Rows row..k fit when start..ends[k-1] plus a separator fits.
                let room = max_bytes.saturating_sub(size + sep);
                let limit = start + room;
                let k = row + chunk.ends[row..].partition_point(|&e| e as usize <= limit);
                if k == row && cur.rows > 0 {
                    // Not even the next row fits: close this body and start another.
                    self.close(&mut cur, &mut out);
                    size = frame;
                    continue;
                }
                // An empty body takes at least one row, however large.
                let k = k.max(row + 1);
                let end = chunk.ends[k - 1] as usize;
                if sep > 0 {
                    cur.slices.push(joiner);
                }
                cur.slices.push(&chunk.bytes[start..end]);
                cur.rows += k - row;
                size += sep + end - start;
                row = k;
                // Skip the in-chunk separator that follows the last placed row.
                start = if row < chunk.ends.len() { end + joiner.len() } else { end };
            }
        }
        if cur.rows > 0 || out.is_empty() {
            self.close(&mut cur, &mut out);
        }
        out
    }
}

/// One column of values, read once per report.
enum Reader {
    Str(StringChunked),
    Int(Int64Chunked),
    Bool(BooleanChunked),
    Const(String),
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
fn cell(column: &TemplateColumn, reader: &Reader, row: usize, buf: &mut Vec<u8>) -> Shape {
    buf.clear();
    match reader {
        Reader::Const(s) => {
            buf.extend_from_slice(s.as_bytes());
            Shape::Text
        }
        Reader::Str(ca) => match ca.get(row) {
            None => Shape::Null,
            Some(s) => {
                buf.extend_from_slice(s.as_bytes());
                if column.value_type == ValueType::Json { Shape::Raw } else { Shape::Text }
            }
        },
        Reader::Bool(ca) => match ca.get(row) {
            None => Shape::Null,
            Some(b) => {
                buf.extend_from_slice(if b { b"true" } else { b"false" });
                Shape::Raw
            }
        },
        Reader::Int(ca) => match (ca.get(row), column.value_type) {
            (None, _) => Shape::Null,
            (Some(v), ValueType::Timestamp) => {
                time::write_millis(buf, v);
                Shape::Text
            }
            (Some(v), ValueType::Duration) => {
                buf.extend_from_slice(time::format_hms(v).as_bytes());
                Shape::Text
            }
            (Some(v), _) => {
                let _ = write!(buf, "{v}");
                Shape::Raw
            }
        },
    }
}

/// Rows per chunk of parallel rendering. Chunks are joined in order, so the bytes do not
/// depend on the number of threads.
const CHUNK_ROWS: usize = 16_384;

fn csv_writer(capacity: usize) -> csv::Writer<Vec<u8>> {
    csv::WriterBuilder::new()
        .quote_style(csv::QuoteStyle::Always)
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::with_capacity(capacity))
}

fn csv_header(readers: &[(TemplateColumn, Reader)]) -> Result<Vec<u8>, String> {
    let mut w = csv_writer(1024);
    w.write_record(readers.iter().map(|(c, _)| c.header.as_str())).map_err(|e| e.to_string())?;
    w.into_inner().map_err(|e| e.error().to_string())
}

/// The chunk's row end offsets fit in `u32`: a chunk is `CHUNK_ROWS` rows, far below 4 GiB.
fn offset(n: usize) -> u32 {
    u32::try_from(n).expect("a rendered chunk is smaller than 4 GiB")
}

fn csv_chunk(
    readers: &[(TemplateColumn, Reader)],
    rows: std::ops::Range<usize>,
    opts: EncodeOptions,
) -> Result<Chunk, String> {
    let mut ends = Vec::with_capacity(rows.len());
    let mut w = csv_writer(rows.len() * 256 + 1024);
    let mut buf = Vec::with_capacity(256);
    let mut quoted = Vec::with_capacity(257);
    for row in rows {
        for (c, r) in readers {
            cell(c, r, row, &mut buf);
            let field = if opts.neutralise_formulas
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

fn json_chunk(
    readers: &[(TemplateColumn, Reader)],
    keys: &[Vec<u8>],
    rows: std::ops::Range<usize>,
) -> Result<Chunk, String> {
    let mut ends = Vec::with_capacity(rows.len());
    let mut out = Vec::with_capacity(rows.len() * 512 + 64);
    let mut buf = Vec::with_capacity(256);
    for (i, row) in rows.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.push(b'{');
        for (j, ((c, r), key)) in readers.iter().zip(keys).enumerate() {
            if j > 0 {
                out.push(b',');
            }
            out.extend_from_slice(key);
            match cell(c, r, row, &mut buf) {
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

/// Renders a report frame (already filtered and sorted) with a template.
pub fn render(
    df: &DataFrame,
    template: &Template,
    format: Format,
    period: (Millis, Millis),
    opts: EncodeOptions,
) -> Result<Rendered, RenderError> {
    use rayon::prelude::*;
    let readers = readers(df, template, format, period)?;
    let rows = df.height();
    let chunks: Vec<std::ops::Range<usize>> =
        (0..rows.div_ceil(CHUNK_ROWS).max(1)).map(|i| i * CHUNK_ROWS..((i + 1) * CHUNK_ROWS).min(rows)).collect();
    let write_err = |message: String| RenderError::Write { template: template.name.clone(), message };
    let (head, chunks, tail) = match format {
        Format::Csv => {
            let chunks = chunks
                .into_par_iter()
                .map(|range| csv_chunk(&readers, range, opts))
                .collect::<Result<Vec<_>, _>>()
                .map_err(write_err)?;
            (csv_header(&readers).map_err(write_err)?, chunks, Vec::new())
        }
        Format::Json => {
            let keys: Vec<Vec<u8>> = readers
                .iter()
                .map(|(c, _)| {
                    let mut k = serde_json::to_vec(&c.key).unwrap_or_default();
                    k.push(b':');
                    k
                })
                .collect();
            let chunks = chunks
                .into_par_iter()
                .map(|range| json_chunk(&readers, &keys, range))
                .collect::<Result<Vec<_>, _>>()
                .map_err(write_err)?;
            (b"{\"reportItems\":[".to_vec(), chunks, b"]}\n".to_vec())
        }
    };
    Ok(Rendered { format, head, chunks, tail, rows })
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
    fn split_cuts_between_rows_and_keeps_each_part_whole() {
        let df = df!("a" => ["r1", "row-two-is-longer", "r3"], "n" => [1i64, 2, 3], "o" => [None::<&str>; 3]).unwrap();
        for format in [Format::Csv, Format::Json] {
            let out = render(&df, &template(), format, (0, 0), EncodeOptions::default()).unwrap();
            let whole = out.to_vec();
            assert_eq!(out.split(whole.len()).len(), 1);
            assert_eq!(out.split(usize::MAX)[0].to_vec(), whole);
            // A limit smaller than any row: one row per part, each part a whole document.
            let parts = out.split(1);
            assert_eq!(parts.len(), 3, "{format:?}");
            assert_eq!(parts.iter().map(|p| p.rows).collect::<Vec<_>>(), vec![1, 1, 1]);
            let texts: Vec<String> = parts.iter().map(|p| String::from_utf8(p.to_vec()).unwrap()).collect();
            match format {
                Format::Csv => {
                    assert!(texts.iter().all(|t| t.starts_with("\"A\",\"N\"\r\n")), "{texts:?}");
                    assert_eq!(texts[1], "\"A\",\"N\"\r\n\"row-two-is-longer\",\"2\"\r\n");
                }
                Format::Json => {
                    assert_eq!(texts[2], "{\"reportItems\":[{\"a\":\"r3\",\"n\":3,\"o\":null}]}\n");
                }
            }
            // Two rows fit exactly; the third goes on.
            let two = parts[0].len() + parts[1].len() - out.head.len() - out.tail.len()
                + if format == Format::Json { 1 } else { 0 };
            let cut = out.split(two);
            assert_eq!(cut.iter().map(|p| p.rows).collect::<Vec<_>>(), vec![2, 1], "{format:?}");
            assert!(cut.iter().all(|p| p.len() <= two));
        }
        let empty = render(&df.head(Some(0)), &template(), Format::Json, (0, 0), EncodeOptions::default()).unwrap();
        assert_eq!(empty.split(1).len(), 1);
        assert_eq!(empty.to_vec(), b"{\"reportItems\":[]}\n");
    }

    #[test]
    fn a_missing_column_is_named() {
        let df = df!("a" => ["x"]).unwrap();
        let err = render(&df, &template(), Format::Csv, (0, 0), EncodeOptions::default()).unwrap_err();
        assert_eq!(err.to_string(), "template `T`, column `n`: the `f` frame has no column `n`");
    }
}
