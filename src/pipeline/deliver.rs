//! Stages 4 to 6 of `run` and `report`, streamed: evaluate, render and deliver overlap, so no
//! report is ever whole in memory.
//!
//! Job reports are encoded from their (Polars) report frames in parallel chunks; compliance
//! reports from the evaluation as it goes ([`Evaluator::stream`]): each chunk of verdicts is
//! encoded once per format on rayon's pool and appended, in report order, to every resource
//! report that covers its framework, account and region. The control reports, one row per
//! framework control, follow when the evaluation ends. Parts go to the writer threads as they
//! fill ([`crate::sinks::stream`]).

use std::sync::Arc;
use std::time::Instant;

use polars::prelude::DataFrame;
use rayon::prelude::*;

use super::{Problem, Timings};
use crate::controls::{Evaluation, Evaluator};
use crate::estate::Estate;
use crate::reports::compliance_report::{self, Fields};
use crate::reports::encode::{CHUNK_ROWS, Chunk, EncodeOptions, Encoder, FrameRows, RenderError, Rows};
use crate::reports::job_report::JobReportFrames;
use crate::reports::{self, Format, PlannedReport, Template, TemplateKind};
use crate::sinks::Sink;
use crate::sinks::stream::{FileInfo, ReportStream, Writers};
use crate::summary::Findings;
use crate::time::Millis;

/// One report to stream: a template in some formats, to one sink.
pub(super) struct Target<'a> {
    /// The report plan, or `None` for an ad-hoc report of the whole estate.
    pub plan: Option<&'a PlannedReport>,
    pub template: &'a Template,
    /// Each format with its key.
    pub files: Vec<(Format, String)>,
    pub sink: Arc<dyn Sink>,
    /// Object size limit (`usize::MAX`: never split).
    pub max_bytes: usize,
}

impl Target<'_> {
    fn plan_name(&self) -> String {
        self.plan.map(|p| p.plan.report_plan_name.clone()).unwrap_or_default()
    }

    fn open<'w>(
        &self,
        w: &'w Writers,
        format: Format,
        key: &str,
        encoder: &Encoder<'_>,
    ) -> Result<ReportStream<'w>, RenderError> {
        let info =
            FileInfo { plan: self.plan_name(), template: self.template.name.clone(), format, key: key.to_string() };
        w.open(info, self.sink.clone(), encoder, self.max_bytes)
    }
}

/// A report file's stream: its target, its format and its index among the run's streams.
type Opened<'a> = (&'a Target<'a>, Format, usize);

/// What the run knows when it renders.
pub(super) struct Context<'a> {
    pub estate: &'a Estate,
    pub now: Millis,
    pub period: (Millis, Millis),
    pub encode: EncodeOptions,
}

/// Streams every target's reports through `w`: job reports first, then the compliance reports
/// with the evaluation (when `evaluator` is given). Streams are opened in `targets` order,
/// formats in each target's order, so `w`'s files follow it. Returns the evaluation, with what
/// the summary keeps of its verdicts.
pub(super) fn stream(
    w: &Writers,
    cx: &Context<'_>,
    targets: &[Target<'_>],
    jobs: Option<&JobReportFrames>,
    evaluator: Option<Evaluator<'_>>,
    timings: &mut Timings,
) -> Result<Option<(Evaluation, Findings)>, Problem> {
    let t = Instant::now();
    // Streams are opened up front, in target order; the job reports are written first.
    let mut streams: Vec<Option<ReportStream<'_>>> = Vec::new();
    // (target, format, stream) of each kind of report.
    let (mut job, mut compliance): (Vec<Opened<'_>>, Vec<Opened<'_>>) = (Vec::new(), Vec::new());
    for target in targets {
        for (format, key) in &target.files {
            let encoder = Encoder::new(target.template, *format, cx.encode);
            streams.push(Some(target.open(w, *format, key, &encoder)?));
            let opened = (target, *format, streams.len() - 1);
            match target.template.kind {
                TemplateKind::Job => job.push(opened),
                TemplateKind::Compliance => compliance.push(opened),
            }
        }
    }
    for (target, format, s) in job {
        let stream = streams[s].take().expect("each stream is written once");
        let frames = jobs.ok_or_else(|| Problem::setup("job report frames were not built"))?;
        job_report(cx, target, format, frames, stream)?;
    }
    timings.render += t.elapsed();

    let Some(evaluator) = evaluator else { return Ok(None) };
    let t = Instant::now();
    let evaluation = compliance_reports(cx, evaluator, &compliance, &mut streams)?;
    timings.evaluate += t.elapsed();
    Ok(Some(evaluation))
}

/// One job report in one format: the frame's rows for the target, encoded in parallel groups
/// of chunks and appended in order.
fn job_report(
    cx: &Context<'_>,
    target: &Target<'_>,
    format: Format,
    frames: &JobReportFrames,
    mut stream: ReportStream<'_>,
) -> Result<(), Problem> {
    let template = target.template;
    let frame = frames.get(&template.frame).ok_or_else(|| RenderError::Column {
        template: template.name.clone(),
        key: String::new(),
        message: format!("`{}` is not a job report frame", template.frame),
    })?;
    let rows: DataFrame = match target.plan {
        Some(p) => reports::job_rows(p, frame)?,
        None => reports::sort_for(frame.clone(), template)
            .map_err(|source| RenderError::Polars { template: template.name.clone(), source })?,
    };
    let rows = FrameRows::new(&rows, template, format, cx.period)?;
    let encoder = Encoder::new(template, format, cx.encode);
    let n = rows.len();
    let group = CHUNK_ROWS * 2 * rayon::current_num_threads().max(1);
    for start in (0..n).step_by(group) {
        let end = (start + group).min(n);
        let ranges: Vec<_> = (start..end).step_by(CHUNK_ROWS).map(|i| i..(i + CHUNK_ROWS).min(end)).collect();
        let chunks = ranges.into_par_iter().map(|r| encoder.chunk(&rows, r)).collect::<Result<Vec<_>, _>>()?;
        for c in &chunks {
            stream.push(c);
        }
    }
    stream.finish();
    Ok(())
}

/// The compliance reports: resource rows while the controls are evaluated, control rows after.
fn compliance_reports(
    cx: &Context<'_>,
    evaluator: Evaluator<'_>,
    targets: &[Opened<'_>],
    streams: &mut [Option<ReportStream<'_>>],
) -> Result<(Evaluation, Findings), Problem> {
    let is_resource = |t: &Target<'_>| t.template.frame == "resource_results";
    // Per format: the encoder and fields of the resource report (every plan prints the same
    // built-in template, so one encoding serves them all).
    let mut encoders: Vec<(Format, Encoder<'_>, Fields)> = Vec::new();
    for &(target, format, _) in targets.iter().filter(|(t, _, _)| is_resource(t)) {
        if !encoders.iter().any(|(f, _, _)| *f == format) {
            let fields = Fields::resolve(target.template, format, cx.period)?;
            encoders.push((format, Encoder::new(target.template, format, cx.encode), fields));
        }
    }
    // Per unit: the resource streams that print it, and the formats they need.
    let interest: Vec<Vec<(Format, usize)>> = evaluator
        .units()
        .map(|u| {
            let id = &cx.estate.scopes[u.scope].id;
            targets
                .iter()
                .filter(|(t, _, _)| is_resource(t))
                .filter(|(t, _, _)| {
                    t.plan.is_none_or(|p| p.covers(&id.account, &id.region, u.framework_arn.as_deref()))
                })
                .map(|&(_, format, stream)| (format, stream))
                .collect()
        })
        .collect();
    // A resource stream is finished as soon as the evaluation has passed the last unit it
    // prints (units come in report order), so that an organisation's thousands of per-account
    // reports are not all open, each with its unsent bytes, until the end.
    let mut ends_after: Vec<Vec<usize>> = vec![Vec::new(); interest.len()];
    let mut last: std::collections::BTreeMap<usize, usize> = std::collections::BTreeMap::new();
    for (i, wanted) in interest.iter().enumerate() {
        for &(_, s) in wanted {
            last.insert(s, i);
        }
    }
    for (s, i) in last {
        ends_after[i].push(s);
    }
    let mut passed = 0;
    let mut failed: Option<RenderError> = None;
    let mut findings = Findings::default();
    let evaluation = evaluator.stream(
        |i, unit, verdicts| -> (Result<Vec<(Format, Chunk)>, RenderError>, _) {
            let encoded = encoders
                .iter()
                .filter(|(f, _, _)| interest[i].iter().any(|(g, _)| g == f))
                .map(|(f, encoder, fields)| {
                    compliance_report::encode_verdicts(encoder, fields, cx.estate, cx.now, unit, &verdicts)
                        .map(|c| (*f, c))
                })
                .collect();
            (encoded, Findings::pick(&verdicts))
        },
        |i, unit, (encoded, picked)| match encoded {
            Ok(chunks) => {
                findings.add(i, unit, picked);
                // Units before `i` are complete.
                for ended in &ends_after[passed..i] {
                    for &s in ended {
                        if let Some(stream) = streams[s].take() {
                            stream.finish();
                        }
                    }
                }
                passed = passed.max(i);
                for (format, chunk) in &chunks {
                    for (_, s) in interest[i].iter().filter(|(f, _)| f == format) {
                        if let Some(stream) = streams[*s].as_mut() {
                            stream.push(chunk);
                        }
                    }
                }
            }
            Err(e) => {
                failed.get_or_insert(e);
            }
        },
    );
    if let Some(e) = failed {
        return Err(e.into());
    }
    for &(target, format, s) in targets {
        // Resource streams whose last unit came last, or that print no unit, end here.
        let Some(mut stream) = streams[s].take() else { continue };
        if !is_resource(target) {
            let results: Vec<_> = evaluation
                .results
                .iter()
                .filter(|r| {
                    let id = &cx.estate.scopes[r.unit.scope].id;
                    target.plan.is_none_or(|p| p.covers(&id.account, &id.region, r.unit.framework_arn.as_deref()))
                })
                .collect();
            let rendered = compliance_report::render_controls(
                target.template,
                format,
                (cx.estate, cx.now, cx.period),
                &results,
                cx.encode,
            )?;
            for c in &rendered.chunks {
                stream.push(c);
            }
        }
        stream.finish();
    }
    Ok((evaluation, findings))
}
