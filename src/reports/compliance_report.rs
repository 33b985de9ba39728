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

impl Rows for ControlRows<'_> {
    fn len(&self) -> usize {
        self.results.len()
    }

    fn cell(&self, column: usize, row: usize) -> Cell<'_> {
        let r = self.results[row];
        match &self.fields.columns[column] {
            Column::Const(s) => Cell::Str(s),
            Column::Field(Field::Status) => Cell::Str(r.status.as_str()),
            Column::Field(Field::NumCompliant) => Cell::Int(r.compliant() as i64),
            Column::Field(Field::NumNonCompliant) => Cell::Int(r.non_compliant() as i64),
            Column::Field(Field::Note) => r.note.as_deref().map_or(Cell::Null, Cell::Str),
            Column::Field(f) => unit_cell(self.estate, &r.unit, self.now, *f),
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
        let v = &self.verdicts[row];
        match &self.fields.columns[column] {
            Column::Const(s) => Cell::Str(s),
            Column::Field(Field::ResourceId) => Cell::Str(&v.resource_id),
            Column::Field(Field::ResourceType) => Cell::Str(v.resource_type),
            Column::Field(Field::Status) => Cell::Str(v.status.as_str()),
            Column::Field(Field::Reason) => Cell::Str(&v.reason),
            Column::Field(f) => unit_cell(self.estate, self.unit, self.now, *f),
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
