//! The human-readable table printed after a run.

use serde_json::Value;

pub(crate) fn print_table(meta: &Value, results: &[Value], peak: Option<f64>) {
    let f = |v: &Value| v.as_f64().unwrap_or(f64::NAN);
    println!(
        "\n== {} | burn 0.22.1 | threads {} | GEMM ref {}",
        meta["device"].as_str().unwrap_or("?"),
        meta["threads"],
        peak.map_or("-".to_string(), |p| format!("{p:.1} GFLOP/s"))
    );
    let hdr = format!(
        "{:<24}{:>18}{:>9}{:>9}{:>15}{:>15}{:>12}{:>10}{:>8}",
        "workload",
        "train ms/step med",
        "min",
        "max",
        "train pairs/s",
        "infer pairs/s",
        "GFLOP/step",
        "GFLOP/s",
        "% GEMM"
    );
    println!("{hdr}\n{}", "-".repeat(hdr.len()));
    for r in results {
        let t = &r["train_ms"];
        let pct = peak.map_or("-".to_string(), |p| {
            format!("{:.1}%", 100.0 * f(&r["train_gflops_achieved"]) / p)
        });
        println!(
            "{:<24}{:>18.2}{:>9.2}{:>9.2}{:>15.0}{:>15.0}{:>12.3}{:>10.1}{:>8}",
            format!(
                "{} {}",
                r["workload"].as_str().unwrap_or(""),
                r["name"].as_str().unwrap_or("")
            ),
            f(&t["median"]),
            f(&t["min"]),
            f(&t["max"]),
            f(&r["train_pairs_per_s"]),
            f(&r["infer_pairs_per_s"]),
            f(&r["train_gflop_per_step"]),
            f(&r["train_gflops_achieved"]),
            pct
        );
    }
    println!(
        "\n{:<24}{:>9}{:>9}{:>9}{:>10}{:>12}{:>10}{:>15}{:>13}",
        "workload",
        "fwd ms",
        "bwd ms",
        "opt ms",
        "params",
        "infer batch",
        "infer ms",
        "infer GFLOP/s",
        "other CPU %"
    );
    for r in results {
        println!(
            "{:<24}{:>9.2}{:>9.2}{:>9.2}{:>9.2}M{:>12}{:>10.2}{:>15.1}{:>13.1}",
            format!(
                "{} {}",
                r["workload"].as_str().unwrap_or(""),
                r["name"].as_str().unwrap_or("")
            ),
            f(&r["train_fwd_ms"]["median"]),
            f(&r["train_bwd_ms"]["median"]),
            f(&r["train_opt_ms"]["median"]),
            f(&r["params"]) / 1e6,
            r["infer_batch"].as_u64().unwrap_or(0),
            f(&r["infer_ms"]["median"]),
            f(&r["infer_gflops_achieved"]),
            f(&r["foreign_cpu_pct"]),
        );
    }
}
