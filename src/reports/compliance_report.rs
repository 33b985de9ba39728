//! Rows of the two compliance templates, straight from the evaluation: no frame in between.
//!
//! `CONTROL_COMPLIANCE_REPORT` prints one row per [`ControlResult`] (framework control and
//! account/region); `RESOURCE_COMPLIANCE_REPORT` one row per [`Verdict`], with the reason for
//! it. A template column's `source` names a field of [`CONTROL_FIELDS`] or
//! [`RESOURCE_FIELDS`]; [`Fields::resolve`] maps the columns to fields once per report, so
//! that a row is printed without looking a name up.

use rayon::prelude::*;

use super::encode::{self, Cell, Chunk, EncodeOptions, Encoder, RenderError, Rendered, Rows};
use super::template::{Format, Source, Template, ValueType};
use crate::controls::{ControlResult, Unit, Verdict};
use crate::estate::Estate;
use crate::time::Millis;

/// What a field holds, to check a template column's type against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    Str,
    Int,
    Time,
}

/// A value of a compliance row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    AccountId,
    Region,
    FrameworkName,
    FrameworkArn,
    FrameworkDescription,
    ControlName,
    Status,
    EvaluationTime,
    NumCompliant,
    NumNonCompliant,
    ControlFrequency,
    ControlScope,
    ControlParameters,
    Note,
    ResourceId,
    ResourceType,
    Reason,
}

/// The fields of a control row, by the name a template's `source` uses.
pub const CONTROL_FIELDS: &[(&str, Field, FieldKind)] = &[
    ("account_id", Field::AccountId, FieldKind::Str),
    ("region", Field::Region, FieldKind::Str),
    ("framework_name", Field::FrameworkName, FieldKind::Str),
    ("framework_arn", Field::FrameworkArn, FieldKind::Str),
    ("framework_description", Field::FrameworkDescription, FieldKind::Str),
    ("control_name", Field::ControlName, FieldKind::Str),
    ("status", Field::Status, FieldKind::Str),
    ("evaluation_time", Field::EvaluationTime, FieldKind::Time),
    ("num_compliant", Field::NumCompliant, FieldKind::Int),
    ("num_non_compliant", Field::NumNonCompliant, FieldKind::Int),
    ("control_frequency", Field::ControlFrequency, FieldKind::Str),
    ("control_scope", Field::ControlScope, FieldKind::Str),
    ("control_parameters", Field::ControlParameters, FieldKind::Str),
    ("note", Field::Note, FieldKind::Str),
];

/// The fields of a resource row, by the name a template's `source` uses.
pub const RESOURCE_FIELDS: &[(&str, Field, FieldKind)] = &[
    ("account_id", Field::AccountId, FieldKind::Str),
    ("region", Field::Region, FieldKind::Str),
    ("framework_name", Field::FrameworkName, FieldKind::Str),
    ("framework_arn", Field::FrameworkArn, FieldKind::Str),
    ("framework_description", Field::FrameworkDescription, FieldKind::Str),
    ("control_name", Field::ControlName, FieldKind::Str),
    ("resource_id", Field::ResourceId, FieldKind::Str),
    ("resource_type", Field::ResourceType, FieldKind::Str),
    ("status", Field::Status, FieldKind::Str),
    ("evaluation_time", Field::EvaluationTime, FieldKind::Time),
    ("reason", Field::Reason, FieldKind::Str),
];

/// One printed column: a field of the row, or a constant (the report period).
#[derive(Debug, Clone)]
enum Column {
    Field(Field),
    Const(String),
}

/// The columns of one compliance template in one format, resolved to fields.
#[derive(Debug, Clone)]
pub struct Fields {
    columns: Vec<Column>,
}

impl Fields {
    /// Resolves the columns `template` prints in `format` against its frame's fields
    /// (`control_results` or `resource_results`), checking each column's type.
    pub fn resolve(template: &Template, format: Format, period: (Millis, Millis)) -> Result<Fields, RenderError> {
        let fields = match template.frame.as_str() {
            "control_results" => CONTROL_FIELDS,
            "resource_results" => RESOURCE_FIELDS,
            other => {
                return Err(RenderError::Column {
                    template: template.name.clone(),
                    key: String::new(),
                    message: format!(
                        "`{other}` is not a compliance frame; expected control_results or resource_results"
                    ),
                });
            }
        };
        let mut columns = Vec::new();
        for c in template.columns_for(format) {
            let err =
                |message: String| RenderError::Column { template: template.name.clone(), key: c.key.clone(), message };
            let column = match &c.source {
                Source::Column(name) => {
                    let &(_, field, kind) = fields
                        .iter()
                        .find(|(n, _, _)| n == name)
                        .ok_or_else(|| err(format!("the `{}` frame has no column `{name}`", template.frame)))?;
                    let fits = matches!(
                        (c.value_type, kind),
                        (ValueType::String | ValueType::Json, FieldKind::Str)
                            | (ValueType::Integer | ValueType::Duration, FieldKind::Int)
                            | (ValueType::Timestamp, FieldKind::Time)
                    );
                    if !fits {
                        return Err(err(format!("type `{:?}` cannot print column `{name}` ({kind:?})", c.value_type)));
                    }
                    Column::Field(field)
                }
                other => Column::Const(encode::period_text(other, period).unwrap_or_default()),
            };
            columns.push(column);
        }
        Ok(Fields { columns })
    }
}

/// A field of the unit (the framework control in an account and region).
fn unit_cell<'a>(estate: &'a Estate, unit: &'a Unit, now: Millis, field: Field) -> Cell<'a> {
    let scope = &estate.scopes[unit.scope].id;
    let text = |s: Option<&'a str>| s.map_or(Cell::Null, Cell::Str);
    match field {
        Field::AccountId => Cell::Str(&scope.account),
        Field::Region => Cell::Str(&scope.region),
        Field::FrameworkName => Cell::Str(&unit.framework_name),
        Field::FrameworkArn => text(unit.framework_arn.as_deref()),
        Field::FrameworkDescription => text(unit.framework_description.as_deref()),
        Field::ControlName => Cell::Str(unit.control.name()),
        Field::EvaluationTime => Cell::Int(now),
        Field::ControlFrequency => text(Some(unit.frequency.as_str()).filter(|f| !f.is_empty())),
        Field::ControlScope => Cell::Str(&unit.scope_json),
        Field::ControlParameters => Cell::Str(&unit.parameters_json),
        _ => Cell::Null,
    }
}

/// The rows of the control compliance report: one per result.
pub struct ControlRows<'a> {
    pub fields: &'a Fields,
    pub estate: &'a Estate,
    pub now: Millis,
    pub results: &'a [&'a ControlResult],
}

/// A field of a control row.
pub fn control_cell<'a>(estate: &'a Estate, now: Millis, r: &'a ControlResult, field: Field) -> Cell<'a> {
    match field {
        Field::Status => Cell::Str(r.status.as_str()),
        Field::NumCompliant => Cell::Int(r.compliant() as i64),
        Field::NumNonCompliant => Cell::Int(r.non_compliant() as i64),
        Field::Note => r.note.as_deref().map_or(Cell::Null, Cell::Str),
        f => unit_cell(estate, &r.unit, now, f),
    }
}

/// A field of a resource row: one verdict of `unit`.
pub fn resource_cell<'a>(estate: &'a Estate, now: Millis, unit: &'a Unit, v: &'a Verdict, field: Field) -> Cell<'a> {
    match field {
        Field::ResourceId => Cell::Str(&v.resource_id),
        Field::ResourceType => Cell::Str(v.resource_type),
        Field::Status => Cell::Str(v.status.as_str()),
        Field::Reason => Cell::Str(&v.reason),
        f => unit_cell(estate, unit, now, f),
    }
}

impl Rows for ControlRows<'_> {
    fn len(&self) -> usize {
        self.results.len()
    }

    fn cell(&self, column: usize, row: usize) -> Cell<'_> {
        match &self.fields.columns[column] {
            Column::Const(s) => Cell::Str(s),
            Column::Field(f) => control_cell(self.estate, self.now, self.results[row], *f),
        }
    }
}

/// Compliance rows read back from a shard's part ([`crate::parts`]): one column per field,
/// by the field's name; the evaluation time is the run's `now`.
pub struct PartRows<'a> {
    fields: &'a Fields,
    columns: Vec<PartColumn>,
    now: Millis,
    len: usize,
}

/// A field's values in a part.
enum PartColumn {
    Str(polars::prelude::StringChunked),
    Int(polars::prelude::Int64Chunked),
    /// The evaluation time, or a field the part does not hold.
    Now,
}

impl<'a> PartRows<'a> {
    /// The rows of `df` (a `resource_verdicts` or `control_results` part) printed by `fields`.
    pub fn new(
        df: &polars::prelude::DataFrame,
        fields: &'a Fields,
        table: &[(&str, Field, FieldKind)],
        now: Millis,
    ) -> polars::prelude::PolarsResult<PartRows<'a>> {
        use polars::prelude::DataType;
        let mut columns = Vec::with_capacity(table.len());
        for &(name, field, kind) in table {
            columns.push(match (field, kind) {
                (Field::EvaluationTime, _) => PartColumn::Now,
                (_, FieldKind::Str) => PartColumn::Str(df.column(name)?.str()?.rechunk().into_owned()),
                _ => PartColumn::Int(df.column(name)?.cast(&DataType::Int64)?.i64()?.rechunk().into_owned()),
            });
        }
        let columns = fields
            .columns
            .iter()
            .map(|c| match c {
                Column::Field(f) => table.iter().position(|(_, g, _)| g == f).unwrap_or(usize::MAX),
                Column::Const(_) => usize::MAX,
            })
            .map(|i| match columns.get(i) {
                Some(PartColumn::Str(c)) => PartColumn::Str(c.clone()),
                Some(PartColumn::Int(c)) => PartColumn::Int(c.clone()),
                _ => PartColumn::Now,
            })
            .collect();
        Ok(PartRows { fields, columns, now, len: df.height() })
    }
}

impl Rows for PartRows<'_> {
    fn len(&self) -> usize {
        self.len
    }

    fn cell(&self, column: usize, row: usize) -> Cell<'_> {
        match (&self.fields.columns[column], &self.columns[column]) {
            (Column::Const(s), _) => Cell::Str(s),
            (_, PartColumn::Str(c)) => c.get(row).map_or(Cell::Null, Cell::Str),
            (_, PartColumn::Int(c)) => c.get(row).map_or(Cell::Null, Cell::Int),
            (Column::Field(Field::EvaluationTime), PartColumn::Now) => Cell::Int(self.now),
            (Column::Field(_), PartColumn::Now) => Cell::Null,
        }
    }
}

/// The rows of the resource compliance report for some verdicts of one unit.
pub struct ResourceRows<'a> {
    pub fields: &'a Fields,
    pub estate: &'a Estate,
    pub now: Millis,
    pub unit: &'a Unit,
    pub verdicts: &'a [Verdict],
}

impl Rows for ResourceRows<'_> {
    fn len(&self) -> usize {
        self.verdicts.len()
    }

    fn cell(&self, column: usize, row: usize) -> Cell<'_> {
        match &self.fields.columns[column] {
            Column::Const(s) => Cell::Str(s),
            Column::Field(f) => resource_cell(self.estate, self.now, self.unit, &self.verdicts[row], *f),
        }
    }
}

/// One unit's verdicts encoded in one format: a [`Chunk`] of rows.
pub fn encode_verdicts(
    encoder: &Encoder<'_>,
    fields: &Fields,
    estate: &Estate,
    now: Millis,
    unit: &Unit,
    verdicts: &[Verdict],
) -> Result<Chunk, RenderError> {
    let rows = ResourceRows { fields, estate, now, unit, verdicts };
    encoder.chunk(&rows, 0..verdicts.len())
}

/// The whole control compliance report of `results` (it is small: one row per unit).
pub fn render_controls(
    template: &Template,
    format: Format,
    (estate, now, period): (&Estate, Millis, (Millis, Millis)),
    results: &[&ControlResult],
    opts: EncodeOptions,
) -> Result<Rendered, RenderError> {
    let fields = Fields::resolve(template, format, period)?;
    let rows = ControlRows { fields: &fields, estate, now, results };
    encode::render_rows(&rows, template, format, opts)
}

/// The whole resource compliance report of every verdict of `results` (`verdicts[i]` are
/// those of `results[i]`), for what prints it at once (`evaluate`, `report`).
pub fn render_resources(
    template: &Template,
    format: Format,
    (estate, now, period): (&Estate, Millis, (Millis, Millis)),
    results: &[ControlResult],
    verdicts: &[Vec<Verdict>],
    opts: EncodeOptions,
) -> Result<Rendered, RenderError> {
    let fields = Fields::resolve(template, format, period)?;
    let encoder = Encoder::new(template, format, opts);
    let chunks = results
        .par_iter()
        .zip(verdicts.par_iter())
        .flat_map_iter(|(r, v)| v.chunks(encode::CHUNK_ROWS).map(move |c| (r, c)))
        .map(|(r, v)| encode_verdicts(&encoder, &fields, estate, now, &r.unit, v))
        .collect::<Result<Vec<_>, _>>()?;
    let rows = verdicts.iter().map(Vec::len).sum();
    Ok(Rendered { format, head: encoder.head()?, chunks, tail: encoder.tail(), rows })
}
