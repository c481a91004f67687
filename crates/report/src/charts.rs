//! The charts of the HTML reports, drawn by plotters into SVG strings (no hand-built SVG).
//!
//! Every chart draws one `<circle>` per datum (a trial or an iteration), so a reader — and the
//! tests — can count them; boxes, lines and axes are other elements.

use plotters::coord::Shift;
use plotters::prelude::*;
use serde::Serialize;

use crate::ReportError;

const WIDTH: u32 = 720;
const HEIGHT: u32 = 340;

/// The colours of the arms (or series), in order; repeated past the sixth.
const PALETTE: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];

/// A colour of the palette.
fn colour(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

/// `#rrggbb` of the palette's `i`th colour, for legends written by the templates.
pub fn colour_hex(i: usize) -> String {
    let RGBColor(r, g, b) = colour(i);
    format!("#{r:02x}{g:02x}{b:02x}")
}

/// A chart ready for a template: its SVG and a legend.
#[derive(Clone, Debug, Serialize)]
pub struct Chart {
    /// What the chart shows.
    pub title: String,
    /// The `<svg>` element.
    pub svg: String,
    /// `(name, #rrggbb)` per series.
    pub legend: Vec<LegendEntry>,
    /// What a mark is (`one point per trial`).
    pub note: String,
}

/// One legend entry.
#[derive(Clone, Debug, Serialize)]
pub struct LegendEntry {
    /// The series' name.
    pub name: String,
    /// Its colour.
    pub colour: String,
}

/// One category (an arm) of a strip chart and its values (`None`: an invalid trial, drawn hollow
/// at the worst edge).
pub struct Category {
    /// The category's label under the axis.
    pub label: String,
    /// One value per mark.
    pub values: Vec<Option<f64>>,
}

/// How a strip chart is drawn.
pub struct StripStyle<'a> {
    /// The title.
    pub title: &'a str,
    /// The y axis' description.
    pub y_desc: &'a str,
    /// Draw a box (quartiles, median, whiskers to min and max) behind each category's points.
    pub boxes: bool,
    /// A dashed horizontal line (the baseline's median).
    pub reference_line: Option<f64>,
    /// Whether invalid values go to the top (worst when lower is better) or the bottom.
    pub worst_high: bool,
}

fn chart_error(title: &str, e: impl std::fmt::Display) -> ReportError {
    ReportError::Chart { chart: title.to_owned(), message: e.to_string() }
}

/// A y range covering `values` with some air (and a unit when they are all equal).
fn y_range(values: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
    let (lo, hi) =
        values.filter(|v| v.is_finite()).fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if !lo.is_finite() {
        return None;
    }
    let pad = if hi > lo { (hi - lo) * 0.12 } else { lo.abs().max(1.0) * 0.1 };
    // Counts, times and positive scores do not dip below zero for the air.
    let low = if lo >= 0.0 && lo - pad < 0.0 { 0.0 } else { lo - pad };
    Some((low, hi + pad))
}

fn is_integer(x: f64) -> bool {
    (x - x.round()).abs() < 1e-9
}

/// The label of category `x` when `x` is a category's position (an integer), else none: the
/// axis asks for labels at every half step so that each category gets one.
fn integer_label(x: f64, labels: &[String]) -> String {
    if is_integer(x) && x >= 0.0 { labels.get(x.round() as usize).cloned().unwrap_or_default() } else { String::new() }
}

/// A small deterministic horizontal offset so equal values stay apart.
fn jitter(j: usize) -> f64 {
    const OFFSETS: [f64; 7] = [0.0, -0.06, 0.06, -0.12, 0.12, -0.18, 0.18];
    OFFSETS[j % OFFSETS.len()]
}

fn draw_into(
    title: &str,
    draw: impl FnOnce(&DrawingArea<SVGBackend<'_>, Shift>) -> Result<(), String>,
) -> Result<String, ReportError> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| chart_error(title, e))?;
        draw(&root).map_err(|e| chart_error(title, e))?;
        root.present().map_err(|e| chart_error(title, e))?;
    }
    Ok(svg)
}

/// Points per category (jittered), optionally over a box; `None` when no category has a value.
pub fn strip(categories: &[Category], style: &StripStyle<'_>, note: &str) -> Result<Option<Chart>, ReportError> {
    let all = categories.iter().flat_map(|c| c.values.iter().flatten().copied());
    let Some((y0, y1)) = y_range(all.chain(style.reference_line)) else { return Ok(None) };
    let n = categories.len();
    let labels: Vec<String> = categories.iter().map(|c| c.label.clone()).collect();
    let svg = draw_into(style.title, |root| {
        let x_axis = -0.5f64..n as f64 - 0.5;
        let mut chart = ChartBuilder::on(root)
            .margin(12)
            .x_label_area_size(32)
            .y_label_area_size(64)
            .build_cartesian_2d(x_axis, y0..y1)
            .map_err(|e| e.to_string())?;
        let label_of = |x: &f64| integer_label(*x, &labels);
        chart
            .configure_mesh()
            .light_line_style(WHITE)
            .disable_x_mesh()
            .x_labels(2 * n + 2)
            .x_label_formatter(&label_of)
            .y_desc(style.y_desc)
            .label_style(("sans-serif", 13))
            .draw()
            .map_err(|e| e.to_string())?;
        if let Some(line) = style.reference_line {
            chart
                .draw_series(DashedLineSeries::new(
                    [(-0.5, line), (n as f64 - 0.5, line)],
                    6,
                    4,
                    BLACK.mix(0.45).stroke_width(1),
                ))
                .map_err(|e| e.to_string())?;
        }
        for (i, category) in categories.iter().enumerate() {
            let x = i as f64;
            let c = colour(i);
            let valid: Vec<f64> = category.values.iter().flatten().copied().collect();
            let d = harnessgym_stats::descriptive::describe(&valid);
            if style.boxes
                && let (Some(q1), Some(q3), Some(median), Some(min), Some(max)) = (d.q1, d.q3, d.median, d.min, d.max)
            {
                let w = 0.28;
                chart
                    .draw_series([Rectangle::new([(x - w, q1), (x + w, q3)], c.mix(0.15).filled())])
                    .map_err(|e| e.to_string())?;
                chart
                    .draw_series([Rectangle::new([(x - w, q1), (x + w, q3)], c.stroke_width(1))])
                    .map_err(|e| e.to_string())?;
                let paths = [
                    vec![(x - w, median), (x + w, median)],
                    vec![(x, q3), (x, max)],
                    vec![(x, q1), (x, min)],
                    vec![(x - w / 2.0, max), (x + w / 2.0, max)],
                    vec![(x - w / 2.0, min), (x + w / 2.0, min)],
                ];
                chart
                    .draw_series(
                        paths
                            .into_iter()
                            .enumerate()
                            .map(|(k, p)| PathElement::new(p, c.stroke_width(if k == 0 { 3 } else { 1 }))),
                    )
                    .map_err(|e| e.to_string())?;
            }
            let worst = if style.worst_high { y1 - (y1 - y0) * 0.03 } else { y0 + (y1 - y0) * 0.03 };
            chart
                .draw_series(category.values.iter().enumerate().map(|(j, v)| match v {
                    Some(v) => Circle::new((x + jitter(j), *v), 4, c.mix(0.85).filled()),
                    None => Circle::new((x + jitter(j), worst), 4, c.stroke_width(2)),
                }))
                .map_err(|e| e.to_string())?;
        }
        Ok(())
    })?;
    Ok(Some(Chart {
        title: style.title.to_owned(),
        svg,
        legend: categories
            .iter()
            .enumerate()
            .map(|(i, c)| LegendEntry { name: c.label.clone(), colour: colour_hex(i) })
            .collect(),
        note: note.to_owned(),
    }))
}

/// One line of a line chart: a point per x.
pub struct Series {
    /// Its name in the legend.
    pub name: String,
    /// `(x, y)` points, x ascending.
    pub points: Vec<(f64, f64)>,
}

/// How a line chart is drawn.
pub struct LineStyle<'a> {
    /// The title.
    pub title: &'a str,
    /// The x axis' description.
    pub x_desc: &'a str,
    /// The y axis' description.
    pub y_desc: &'a str,
    /// A dashed horizontal line (the baseline score).
    pub reference_line: Option<f64>,
    /// One point drawn larger and ringed (the best checkpoint).
    pub highlight: Option<(f64, f64)>,
    /// The integer x values (iterations) to label.
    pub x_keys: Vec<f64>,
}

/// Lines with a point per x; `None` without points.
pub fn lines(series: &[Series], style: &LineStyle<'_>, note: &str) -> Result<Option<Chart>, ReportError> {
    let ys = series.iter().flat_map(|s| s.points.iter().map(|p| p.1));
    let Some((y0, y1)) = y_range(ys.chain(style.reference_line)) else { return Ok(None) };
    let xs: Vec<f64> = style.x_keys.clone();
    let (x0, x1) = match (xs.first(), xs.last()) {
        (Some(a), Some(b)) => (a - 0.5, b + 0.5),
        _ => return Ok(None),
    };
    let svg = draw_into(style.title, |root| {
        let mut chart = ChartBuilder::on(root)
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(64)
            .build_cartesian_2d(x0..x1, y0..y1)
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .light_line_style(WHITE)
            .x_desc(style.x_desc)
            .y_desc(style.y_desc)
            .x_labels(2 * xs.len() + 2)
            .x_label_formatter(&|x: &f64| if is_integer(*x) { format!("{}", x.round() as i64) } else { String::new() })
            .label_style(("sans-serif", 13))
            .draw()
            .map_err(|e| e.to_string())?;
        if let Some(line) = style.reference_line {
            chart
                .draw_series(DashedLineSeries::new([(x0, line), (x1, line)], 6, 4, BLACK.mix(0.45).stroke_width(1)))
                .map_err(|e| e.to_string())?;
        }
        for (i, s) in series.iter().enumerate() {
            let c = colour(i);
            chart
                .draw_series(LineSeries::new(s.points.iter().copied(), c.stroke_width(2)))
                .map_err(|e| e.to_string())?;
            chart.draw_series(s.points.iter().map(|&p| Circle::new(p, 4, c.filled()))).map_err(|e| e.to_string())?;
        }
        if let Some(p) = style.highlight {
            chart
                .draw_series([PathElement::new(vec![(p.0, y0), (p.0, y1)], BLACK.mix(0.2).stroke_width(1))])
                .map_err(|e| e.to_string())?;
            chart.draw_series([Cross::new(p, 9, RED.stroke_width(2))]).map_err(|e| e.to_string())?;
        }
        Ok(())
    })?;
    Ok(Some(Chart {
        title: style.title.to_owned(),
        svg,
        legend: series
            .iter()
            .enumerate()
            .map(|(i, s)| LegendEntry { name: s.name.clone(), colour: colour_hex(i) })
            .collect(),
        note: note.to_owned(),
    }))
}

/// Stacked horizontal bars: one bar per row (an iteration), one segment per part (a phase);
/// `None` without any positive value. A `<circle>` marks each bar's end, one per row.
pub fn stacked_bars(
    rows: &[String],
    parts: &[(String, Vec<f64>)],
    title: &str,
    x_desc: &str,
    note: &str,
) -> Result<Option<Chart>, ReportError> {
    let totals: Vec<f64> =
        (0..rows.len()).map(|r| parts.iter().map(|(_, v)| v.get(r).copied().unwrap_or(0.0).max(0.0)).sum()).collect();
    let max = totals.iter().copied().fold(0.0, f64::max);
    if rows.is_empty() || max <= 0.0 {
        return Ok(None);
    }
    let n = rows.len();
    let svg = draw_into(title, |root| {
        let y_axis = -0.5f64..n as f64 - 0.5;
        let mut chart = ChartBuilder::on(root)
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(64)
            .build_cartesian_2d(0.0..max * 1.08, y_axis)
            .map_err(|e| e.to_string())?;
        let label_of = |y: &f64| integer_label(*y, rows);
        chart
            .configure_mesh()
            .light_line_style(WHITE)
            .disable_y_mesh()
            .y_labels(2 * n + 2)
            .y_label_formatter(&label_of)
            .x_desc(x_desc)
            .label_style(("sans-serif", 13))
            .draw()
            .map_err(|e| e.to_string())?;
        for r in 0..n {
            let y = r as f64;
            let mut start = 0.0;
            for (k, (_, values)) in parts.iter().enumerate() {
                let v = values.get(r).copied().unwrap_or(0.0).max(0.0);
                if v > 0.0 {
                    chart
                        .draw_series([Rectangle::new([(start, y - 0.3), (start + v, y + 0.3)], colour(k).filled())])
                        .map_err(|e| e.to_string())?;
                }
                start += v;
            }
            chart.draw_series([Circle::new((start, y), 3, BLACK.filled())]).map_err(|e| e.to_string())?;
        }
        Ok(())
    })?;
    Ok(Some(Chart {
        title: title.to_owned(),
        svg,
        legend: parts
            .iter()
            .enumerate()
            .map(|(i, (name, _))| LegendEntry { name: name.clone(), colour: colour_hex(i) })
            .collect(),
        note: note.to_owned(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn circles(svg: &str) -> usize {
        svg.matches("<circle").count()
    }

    #[test]
    fn a_strip_chart_draws_one_circle_per_trial_and_invalid_ones_too() {
        let cats = [
            Category { label: "plain".into(), values: vec![Some(20.0), Some(19.0), None] },
            Category { label: "harnessed".into(), values: vec![Some(10.0), Some(11.0), Some(10.0), Some(12.0)] },
        ];
        let style =
            StripStyle { title: "t", y_desc: "score", boxes: true, reference_line: Some(19.5), worst_high: true };
        let chart = strip(&cats, &style, "n").unwrap().unwrap();
        assert!(chart.svg.starts_with("<svg"), "{}", &chart.svg[..80]);
        assert_eq!(circles(&chart.svg), 7);
        assert!(chart.svg.contains("\nharnessed\n"), "the arm labels the axis");
        assert_eq!(chart.legend[1].colour, "#ff7f0e");
    }

    #[test]
    fn nothing_to_draw_is_no_chart() {
        let cats = [Category { label: "plain".into(), values: vec![None] }];
        let style = StripStyle { title: "t", y_desc: "s", boxes: true, reference_line: None, worst_high: false };
        assert!(strip(&cats, &style, "").unwrap().is_none());
        let style = LineStyle {
            title: "t",
            x_desc: "i",
            y_desc: "s",
            reference_line: None,
            highlight: None,
            x_keys: vec![1.0],
        };
        assert!(lines(&[], &style, "").unwrap().is_none());
        assert!(stacked_bars(&["1".into()], &[("a".into(), vec![0.0])], "t", "s", "").unwrap().is_none());
    }

    #[test]
    fn lines_draw_a_circle_per_point_and_bars_one_per_row() {
        let series = [Series { name: "a".into(), points: vec![(1.0, 3.0), (2.0, 2.0), (3.0, 2.5)] }];
        let style = LineStyle {
            title: "t",
            x_desc: "iteration",
            y_desc: "score",
            reference_line: Some(4.0),
            highlight: Some((2.0, 2.0)),
            x_keys: vec![1.0, 2.0, 3.0],
        };
        assert_eq!(circles(&lines(&series, &style, "").unwrap().unwrap().svg), 3);
        let bars = stacked_bars(
            &["1".into(), "2".into()],
            &[("attempt".into(), vec![1.0, 2.0]), ("build".into(), vec![0.5, 0.0])],
            "t",
            "seconds",
            "",
        )
        .unwrap()
        .unwrap();
        assert_eq!(circles(&bars.svg), 2);
        assert_eq!(bars.svg.matches("<rect").count(), 1 + 3, "background + three segments");
    }
}
