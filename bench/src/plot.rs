//! SVG plots of a run, drawn with `plotters` (SVG backend only; text is
//! written as SVG `<text>`, laid out by plotters' built-in estimate, so no
//! font is read from the system).

use std::path::Path;

use plotters::prelude::*;

use crate::report::Series;

const W: u32 = 860;
const H: u32 = 500;
const COLOURS: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(23, 190, 207),
];

type Line = (String, Vec<(f64, f64)>);

/// An axis label: whole numbers without decimals, thousands as `k`, millions as `M`.
fn tick(v: f64) -> String {
    let a = v.abs();
    if a >= 1e6 {
        format!("{}M", trim(v / 1e6))
    } else if a >= 1e4 {
        format!("{}k", trim(v / 1e3))
    } else {
        trim(v)
    }
}

fn trim(v: f64) -> String {
    let s = format!("{v:.2}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    s.to_owned()
}

fn bounds(lines: &[Line]) -> (f64, f64, f64, f64) {
    let pts = lines.iter().flat_map(|(_, p)| p.iter());
    let (mut x0, mut x1, mut y1) = (f64::INFINITY, f64::NEG_INFINITY, 0.0f64);
    for &(x, y) in pts {
        if x.is_finite() && y.is_finite() {
            x0 = x0.min(x);
            x1 = x1.max(x);
            y1 = y1.max(y);
        }
    }
    if !x0.is_finite() {
        (x0, x1) = (1.0, 10.0);
    }
    if x1 <= x0 {
        x1 = x0 * 2.0 + 1.0;
    }
    if y1 <= 0.0 {
        y1 = 1.0;
    }
    (x0, x1, 0.0, y1 * 1.1)
}

/// One chart of `lines`; `log_x` for ledger sizes.
fn chart(
    path: &Path,
    title: &str,
    x_desc: &str,
    y_desc: &str,
    log_x: bool,
    lines: &[Line],
) -> Result<(), String> {
    let (x0, x1, y0, y1) = bounds(lines);
    let root = SVGBackend::new(path, (W, H)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let mut b = ChartBuilder::on(&root);
    b.caption(title, ("sans-serif", 20))
        .margin(14)
        .x_label_area_size(44)
        .y_label_area_size(70);
    macro_rules! draw {
        ($c:expr) => {{
            let mut c = $c;
            c.configure_mesh()
                .x_desc(x_desc)
                .y_desc(y_desc)
                .x_label_formatter(&|v: &f64| tick(*v))
                .y_label_formatter(&|v: &f64| tick(*v))
                .draw()
                .map_err(|e| e.to_string())?;
            for (i, (name, pts)) in lines.iter().enumerate() {
                let col = COLOURS[i % COLOURS.len()];
                let pts: Vec<(f64, f64)> = pts
                    .iter()
                    .copied()
                    .filter(|(x, y)| x.is_finite() && y.is_finite())
                    .collect();
                c.draw_series(LineSeries::new(pts.clone(), col.stroke_width(2)))
                    .map_err(|e| e.to_string())?
                    .label(name.as_str())
                    .legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 18, y)], col.stroke_width(2))
                    });
                c.draw_series(pts.into_iter().map(|p| Circle::new(p, 3, col.filled())))
                    .map_err(|e| e.to_string())?;
            }
            c.configure_series_labels()
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .position(SeriesLabelPosition::UpperRight)
                .draw()
                .map_err(|e| e.to_string())?;
        }};
    }
    if log_x {
        draw!(b
            .build_cartesian_2d((x0..x1).log_scale(), y0..y1)
            .map_err(|e| e.to_string())?);
    } else {
        draw!(b
            .build_cartesian_2d(x0..x1, y0..y1)
            .map_err(|e| e.to_string())?);
    }
    root.present().map_err(|e| e.to_string())
}

/// Draws every plot into `dir`; returns (file name, caption) of each.
pub fn draw_all(dir: &Path, s: &Series) -> Result<Vec<(String, String)>, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut out = Vec::new();
    let mut put = |file: &str, caption: &str, r: Result<(), String>| -> Result<(), String> {
        r?;
        out.push((file.to_owned(), caption.to_owned()));
        Ok(())
    };

    let lines: Vec<Line> = s
        .append_curve
        .iter()
        .map(|(n, pts)| (format!("ledger of {n} events"), pts.clone()))
        .collect();
    put(
        "appends.svg",
        "Durable group-commit appends (256 per call): events/s against the events already stored",
        chart(
            &dir.join("appends.svg"),
            "append_own, 256 per call: throughput against ledger size",
            "events in the store",
            "events/s",
            true,
            &lines,
        ),
    )?;

    let c = &s.catchup;
    let rate: Vec<Line> = vec![
        (
            "from 1 peer".into(),
            c.iter().map(|r| (r.0 as f64, r.1)).collect(),
        ),
        (
            "from 3 peers".into(),
            c.iter().map(|r| (r.0 as f64, r.3)).collect(),
        ),
    ];
    put(
        "catchup_rate.svg",
        "Observer catch-up: events/s against ledger size",
        chart(
            &dir.join("catchup_rate.svg"),
            "Observer catch-up rate",
            "events in the ledger",
            "events/s",
            true,
            &rate,
        ),
    )?;
    let secs: Vec<Line> = vec![
        (
            "from 1 peer".into(),
            c.iter().map(|r| (r.0 as f64, r.2)).collect(),
        ),
        (
            "from 3 peers".into(),
            c.iter().map(|r| (r.0 as f64, r.4)).collect(),
        ),
    ];
    put(
        "catchup_time.svg",
        "Observer catch-up: total seconds against ledger size (linear axes: a straight line is linear growth)",
        chart(&dir.join("catchup_time.svg"), "Observer catch-up time", "events in the ledger", "seconds", false, &secs),
    )?;

    let mut lat: Vec<Line> = Vec::new();
    let mut names: Vec<&str> = s.latency.iter().map(|l| l.1).collect();
    names.dedup();
    names.sort();
    names.dedup();
    for name in names {
        for (i, p) in ["p50", "p99"].iter().enumerate() {
            let k = if i == 0 { 0 } else { 2 };
            lat.push((
                format!("{name} {p}"),
                s.latency
                    .iter()
                    .filter(|l| l.1 == name)
                    .map(|l| (l.0 as f64, l.2[k]))
                    .collect(),
            ));
        }
    }
    put(
        "query_latency.svg",
        "HTTP query latency (ms) against ledger size (log x: an inclusion proof should grow with log N)",
        chart(&dir.join("query_latency.svg"), "Query latency through the HTTP API", "events in the ledger", "ms", true, &lat),
    )?;

    let rss: Vec<Line> = s
        .rss
        .iter()
        .map(|(n, pts)| {
            (
                format!("VmRSS, ledger of {n}"),
                pts.iter().map(|p| (p.0, p.1)).collect(),
            )
        })
        .collect();
    put(
        "rss.svg",
        "Node memory (VmRSS, MB) over time under writes and 4 concurrent audit clients",
        chart(
            &dir.join("rss.svg"),
            "Node RSS under load",
            "seconds",
            "MB",
            false,
            &rss,
        ),
    )?;
    Ok(out)
}
