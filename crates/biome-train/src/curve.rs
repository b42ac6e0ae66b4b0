//! The training curve: losses (and the validation accuracy) per epoch, drawn from
//! `metrics.jsonl` into an SVG.

use std::path::Path;

use plotters::prelude::*;

/// Draw `metrics_jsonl` into `svg`. Returns an error message when there is nothing to draw or
/// the file is unreadable; training never fails because of the picture.
pub fn training_curve(metrics_jsonl: &Path, svg: &Path) -> Result<(), String> {
    let text = std::fs::read_to_string(metrics_jsonl).map_err(|e| e.to_string())?;
    let rows: Vec<serde_json::Value> = text
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    if rows.is_empty() {
        return Err("no epochs yet".into());
    }
    let series = |key: &str| -> Vec<(f64, f64)> {
        rows.iter()
            .filter_map(|r| Some((r["epoch"].as_f64()?, r[key].as_f64()?)))
            .collect()
    };
    let named = [
        ("training_loss", "training loss", RED),
        ("validation_loss", "validation loss", BLUE),
        ("validation_accuracy", "validation accuracy", GREEN),
        ("training_accuracy", "training accuracy", MAGENTA),
    ];
    let data: Vec<_> = named
        .iter()
        .map(|(k, label, color)| (series(k), *label, *color))
        .filter(|(s, _, _)| !s.is_empty())
        .collect();
    let max_epoch = rows.len().max(2) as f64;
    let max_y = data
        .iter()
        .flat_map(|(s, _, _)| s.iter().map(|p| p.1))
        .fold(1.0f64, f64::max);
    let root = SVGBackend::new(svg, (720, 420)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let mut chart = ChartBuilder::on(&root)
        .caption("biome training curve", ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(32)
        .y_label_area_size(48)
        .build_cartesian_2d(1.0..max_epoch, 0.0..max_y * 1.05)
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .x_desc("epoch")
        .draw()
        .map_err(|e| e.to_string())?;
    for (points, label, color) in data {
        chart
            .draw_series(LineSeries::new(points, color.stroke_width(2)))
            .map_err(|e| e.to_string())?
            .label(label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], color));
    }
    chart
        .configure_series_labels()
        .border_style(BLACK)
        .background_style(WHITE.mix(0.8))
        .draw()
        .map_err(|e| e.to_string())?;
    root.present().map_err(|e| e.to_string())
}

/// Draw a precision–recall curve (`(recall, precision)` points, from the highest threshold
/// down) into `svg`, marking `best` (recall, precision, threshold) when given.
pub fn precision_recall_svg(
    points: &[(f64, f64)],
    best: Option<(f64, f64, f32)>,
    label: &str,
    svg: &Path,
) -> Result<(), String> {
    if points.is_empty() {
        return Err("no points to draw".into());
    }
    let root = SVGBackend::new(svg, (520, 480)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let mut chart = ChartBuilder::on(&root)
        .caption(format!("precision–recall: {label}"), ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(32)
        .y_label_area_size(48)
        .build_cartesian_2d(0.0..1.0, 0.0..1.02)
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .x_desc("recall")
        .y_desc("precision")
        .draw()
        .map_err(|e| e.to_string())?;
    chart
        .draw_series(LineSeries::new(
            points.iter().copied(),
            BLUE.stroke_width(2),
        ))
        .map_err(|e| e.to_string())?;
    if let Some((r, p, t)) = best {
        chart
            .draw_series(std::iter::once(Circle::new((r, p), 5, RED.filled())))
            .map_err(|e| e.to_string())?
            .label(format!("F1-best threshold {t:.3}"))
            .legend(|(x, y)| Circle::new((x + 8, y), 4, RED.filled()));
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerLeft)
            .border_style(BLACK)
            .background_style(WHITE.mix(0.8))
            .draw()
            .map_err(|e| e.to_string())?;
    }
    root.present().map_err(|e| e.to_string())
}
