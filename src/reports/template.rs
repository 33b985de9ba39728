//! Report templates as data: `templates/<NAME>.toml`, embedded in the binary.
//!
//! A template lists its columns in JSON key order: the JSON key, the CSV header, where the
//! value comes from (a column of the report frame, or the report period) and how to print it.
//! The CSV column order is its own list (`csv_columns`), because consumers load Audit
//! Manager's CSVs by position (Athena, Glue) and that order is not the JSON key order.

use serde::Deserialize;

/// The built-in templates, embedded so that a Lambda zip or a lone binary is self-contained.
pub const BUILT_IN: &[(&str, &str)] = &[
    ("BACKUP_JOB_REPORT", include_str!("../../templates/BACKUP_JOB_REPORT.toml")),
    ("COPY_JOB_REPORT", include_str!("../../templates/COPY_JOB_REPORT.toml")),
    ("RESTORE_JOB_REPORT", include_str!("../../templates/RESTORE_JOB_REPORT.toml")),
    ("CONTROL_COMPLIANCE_REPORT", include_str!("../../templates/CONTROL_COMPLIANCE_REPORT.toml")),
    ("RESOURCE_COMPLIANCE_REPORT", include_str!("../../templates/RESOURCE_COMPLIANCE_REPORT.toml")),
];

/// Errors of loading a template.
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    /// The TOML does not parse or does not have the template shape.
    #[error("template `{name}`: {message}")]
    Parse { name: String, message: String },
    /// The template is well-formed but inconsistent.
    #[error("template `{name}`, column `{column}`: {message}")]
    Invalid { name: String, column: String, message: String },
    /// No template of that name exists.
    #[error(
        "unknown report template `{0}`; expected one of BACKUP_JOB_REPORT, COPY_JOB_REPORT, RESTORE_JOB_REPORT, CONTROL_COMPLIANCE_REPORT, RESOURCE_COMPLIANCE_REPORT"
    )]
    Unknown(String),
}

impl TemplateError {
    /// An unknown or malformed template is bad input.
    pub fn kind(&self) -> crate::problem::Kind {
        crate::problem::Kind::BadInput
    }
}

/// What a template reports on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TemplateKind {
    /// BACKUP, COPY and RESTORE job reports over a time window.
    Job,
    /// CONTROL and RESOURCE compliance reports at a point in time.
    Compliance,
}

/// How a value is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ValueType {
    /// Text; JSON string.
    String,
    /// Whole number; JSON number.
    Integer,
    /// `true` / `false`.
    Boolean,
    /// ISO-8601 UTC with milliseconds: `2021-07-14T23:53:47.229Z`.
    Timestamp,
    /// A millisecond count printed as `HH:MM:SS`.
    Duration,
    /// A JSON document held as text: embedded as JSON in JSON reports, as text in CSV.
    Json,
}

/// An output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Csv,
    Json,
}

impl Format {
    /// The file extension, which is also the report plan's `Formats` value lower-cased.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Json => "json",
        }
    }

    /// Parses a report plan `Formats` member (`CSV`, `JSON`, any case).
    pub fn parse(s: &str) -> Option<Format> {
        match s.to_ascii_uppercase().as_str() {
            "CSV" => Some(Format::Csv),
            "JSON" => Some(Format::Json),
            _ => None,
        }
    }
}

/// Where a column's value comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A column of the report frame.
    Column(String),
    /// The window start.
    PeriodStart,
    /// The window end.
    PeriodEnd,
    /// `<start> - <end>` in one string, as RESTORE_JOB_REPORT prints it.
    Period,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TemplateFile {
    name: String,
    kind: TemplateKind,
    frame: String,
    description: String,
    #[serde(default)]
    sort: Vec<String>,
    /// The layout commands the report is built from (see [`Template::inputs`]).
    #[serde(default)]
    inputs: Vec<String>,
    /// The CSV column order by key; default: the CSV columns in `columns` order.
    #[serde(default)]
    csv_columns: Vec<String>,
    columns: Vec<ColumnFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ColumnFile {
    key: String,
    header: String,
    source: String,
    #[serde(rename = "type")]
    value_type: ValueType,
    #[serde(default)]
    formats: Vec<Format>,
}

/// One column of a template.
#[derive(Debug, Clone)]
pub struct TemplateColumn {
    pub key: String,
    pub header: String,
    pub source: Source,
    pub value_type: ValueType,
    /// The formats this column appears in.
    pub formats: Vec<Format>,
}

/// A checked template.
#[derive(Debug, Clone)]
pub struct Template {
    pub name: String,
    pub kind: TemplateKind,
    /// The frame the report is built from.
    pub frame: String,
    pub description: String,
    /// Frame columns the rows are sorted by (ascending), for byte-stable output.
    pub sort: Vec<String>,
    /// The layout commands the report is built from: when one was not collected for an
    /// account and region the report covers, the report is marked incomplete.
    pub inputs: Vec<crate::estate::Dataset>,
    /// Columns in JSON key order.
    pub columns: Vec<TemplateColumn>,
    /// Indexes into `columns` in CSV column order.
    pub csv_order: Vec<usize>,
}

impl Template {
    /// Parses and checks a template file. `name` is used in errors.
    pub fn parse(name: &str, text: &str) -> Result<Template, TemplateError> {
        let file: TemplateFile = toml::from_str(text)
            .map_err(|e| TemplateError::Parse { name: name.to_string(), message: e.to_string() })?;
        let mut seen = std::collections::BTreeSet::new();
        let mut columns = Vec::with_capacity(file.columns.len());
        for c in file.columns {
            let invalid = |message: &str| TemplateError::Invalid {
                name: file.name.clone(),
                column: c.key.clone(),
                message: message.to_string(),
            };
            if !seen.insert(c.key.clone()) {
                return Err(invalid("appears twice"));
            }
            let source = match c.source.as_str() {
                "@period_start" => Source::PeriodStart,
                "@period_end" => Source::PeriodEnd,
                "@period" => Source::Period,
                s if s.starts_with('@') => {
                    return Err(invalid(
                        "unknown source; expected a frame column, @period_start, @period_end or @period",
                    ));
                }
                s => Source::Column(s.to_string()),
            };
            let formats = if c.formats.is_empty() { vec![Format::Csv, Format::Json] } else { c.formats };
            columns.push(TemplateColumn { key: c.key, header: c.header, source, value_type: c.value_type, formats });
        }
        if columns.is_empty() {
            return Err(TemplateError::Parse { name: file.name, message: "has no columns".into() });
        }
        let csv_order = csv_order(&file.name, &columns, &file.csv_columns)?;
        let inputs = file
            .inputs
            .iter()
            .map(|c| {
                crate::estate::Dataset::from_command(c).ok_or_else(|| TemplateError::Parse {
                    name: file.name.clone(),
                    message: format!("`inputs` names `{c}`, which is not a command of the estate layout"),
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Template {
            name: file.name,
            kind: file.kind,
            frame: file.frame,
            description: file.description,
            sort: file.sort,
            inputs,
            columns,
            csv_order,
        })
    }

    /// Loads a built-in template by its `ReportTemplate` name.
    pub fn built_in(name: &str) -> Result<Template, TemplateError> {
        let (_, text) =
            BUILT_IN.iter().find(|(n, _)| *n == name).ok_or_else(|| TemplateError::Unknown(name.to_string()))?;
        Template::parse(name, text)
    }

    /// Whether the report is built from `dataset` (one of its `inputs`).
    pub fn reads(&self, dataset: crate::estate::Dataset) -> bool {
        self.inputs.contains(&dataset)
    }

    /// The columns that appear in `format`, in that format's order.
    pub fn columns_for(&self, format: Format) -> Box<dyn Iterator<Item = &TemplateColumn> + '_> {
        match format {
            Format::Csv => Box::new(self.csv_order.iter().map(|&i| &self.columns[i])),
            Format::Json => Box::new(self.columns.iter().filter(|c| c.formats.contains(&Format::Json))),
        }
    }
}

/// `docs/report-columns.md`: every built-in template's CSV columns (position, header, key) and
/// JSON keys, generated from `templates/` (a test fails when the file drifts from them).
pub fn columns_markdown() -> Result<String, TemplateError> {
    use std::fmt::Write;
    let mut out = String::from(
        "# Report columns\n\n\
         Generated from `templates/*.toml` by `backup_audit::reports::template::columns_markdown`; \
         `BLESS=1 scripts/test.sh report_columns` rewrites it, and the test suite fails when it drifts.\n\n\
         CSV files have a header row and are read by position (Athena, Glue) or by header (Spark): \
         the CSV order is each template's `csv_columns`. JSON reports keep Audit Manager's key order.\n",
    );
    for (name, _) in BUILT_IN {
        let t = Template::built_in(name)?;
        let _ = write!(out, "\n## {}\n\n{}\n\n### CSV\n\n| # | header | key |\n|---|---|---|\n", t.name, t.description);
        for (i, c) in t.columns_for(Format::Csv).enumerate() {
            let _ = writeln!(out, "| {} | {} | `{}` |", i + 1, c.header, c.key);
        }
        out.push_str("\n### JSON\n\n| # | key | CSV header |\n|---|---|---|\n");
        for (i, c) in t.columns_for(Format::Json).enumerate() {
            let _ = writeln!(out, "| {} | `{}` | {} |", i + 1, c.key, c.header);
        }
        let csv_only: Vec<String> =
            t.columns.iter().filter(|c| !c.formats.contains(&Format::Json)).map(|c| format!("`{}`", c.key)).collect();
        if !csv_only.is_empty() {
            let _ = writeln!(out, "\nIn CSV only: {}.", csv_only.join(", "));
        }
    }
    Ok(out)
}

/// The CSV order: `listed` (keys) must name every CSV column exactly once; empty means the
/// CSV columns in JSON order.
fn csv_order(name: &str, columns: &[TemplateColumn], listed: &[String]) -> Result<Vec<usize>, TemplateError> {
    let csv: Vec<usize> = (0..columns.len()).filter(|&i| columns[i].formats.contains(&Format::Csv)).collect();
    if listed.is_empty() {
        return Ok(csv);
    }
    let invalid = |column: &str, message: &str| TemplateError::Invalid {
        name: name.to_string(),
        column: column.to_string(),
        message: message.to_string(),
    };
    let mut order = Vec::with_capacity(listed.len());
    for key in listed {
        let i = columns
            .iter()
            .position(|c| &c.key == key)
            .ok_or_else(|| invalid(key, "is in `csv_columns` but not in `columns`"))?;
        if !columns[i].formats.contains(&Format::Csv) {
            return Err(invalid(key, "is in `csv_columns` but its `formats` leave CSV out"));
        }
        if order.contains(&i) {
            return Err(invalid(key, "appears twice in `csv_columns`"));
        }
        order.push(i);
    }
    if let Some(&missing) = csv.iter().find(|i| !order.contains(i)) {
        return Err(invalid(&columns[missing].key, "is a CSV column missing from `csv_columns`"));
    }
    Ok(order)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_built_in_template_parses() {
        for (name, text) in BUILT_IN {
            let t = Template::parse(name, text).unwrap();
            assert_eq!(&t.name, name);
        }
    }

    #[test]
    fn csv_columns_must_list_every_csv_column_once() {
        let base = "name='X'\nkind='job'\nframe='f'\ndescription='d'\n[[columns]]\nkey='a'\nheader='A'\nsource='x'\ntype='string'\n[[columns]]\nkey='b'\nheader='B'\nsource='y'\ntype='string'\n";
        let with = |list: &str| Template::parse("X", &format!("csv_columns = {list}\n{base}"));
        let t = with("['b', 'a']").unwrap();
        let keys = |f| t.columns_for(f).map(|c| c.key.clone()).collect::<Vec<_>>();
        assert_eq!(
            (keys(Format::Csv), keys(Format::Json)),
            (vec!["b".into(), "a".into()], vec!["a".into(), "b".into()])
        );
        let err = |list| with(list).unwrap_err().to_string();
        assert_eq!(err("['b']"), "template `X`, column `a`: is a CSV column missing from `csv_columns`");
        assert_eq!(err("['a', 'a', 'b']"), "template `X`, column `a`: appears twice in `csv_columns`");
        assert_eq!(err("['a', 'b', 'c']"), "template `X`, column `c`: is in `csv_columns` but not in `columns`");
    }

    #[test]
    fn bad_templates_name_the_column() {
        let text = "name='X'\nkind='job'\nframe='backup_jobs'\ndescription='d'\n[[columns]]\nkey='a'\nheader='A'\nsource='@nope'\ntype='string'\n";
        let err = Template::parse("X", text).unwrap_err().to_string();
        assert_eq!(
            err,
            "template `X`, column `a`: unknown source; expected a frame column, @period_start, @period_end or @period"
        );
        let err = Template::parse("X", "name='X'\nkind='job'\nframe='f'\ndescription='d'\ncolumns=[]\nextra=1")
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown field `extra`"), "{err}");
    }
}
