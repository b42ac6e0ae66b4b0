//! The phases of a run, in order: read, encode, candidates, score, cluster, write.

use std::collections::HashMap;
use std::path::Path;
use std::time::Instant;

use biome_core::{Table, TableRecords, read_table, table_records};
use biome_resolve::{
    CandidatePair, Candidates, Clustering, Source, VectorSet, block_keys, cluster_dedupe,
    cluster_link, cluster_scores, dedupe_pairs, find_neighbours, link_cluster_scores,
    link_pair_scores, link_pairs, one_to_one, pair_scores, size_distribution, true_link_count,
    true_pair_count,
};
use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;

use super::fields::resolve_fields;
use super::output::{OutputFolder, csv_error, csv_writer, write_csv};
use super::summary::{CandidateSummary, Evaluation, ResolveSummary, TableSummary, Timings};
use super::{ResolveOptions, TableInput};
use crate::error::{BiomeError, Result};
use crate::match_label::match_label;
use crate::pipeline::{Pipeline, RecordVectors};

/// A table read and encoded.
struct Side {
    table: Table,
    records: TableRecords,
    fields: Vec<String>,
    vectors: RecordVectors,
}

impl Side {
    fn summary(&self) -> TableSummary {
        TableSummary {
            source: self.records.source.clone(),
            records: self.records.ids.len(),
            fields: self.fields.clone(),
        }
    }

    /// Each record's blocking key under every rule (a rule's column missing from the table is
    /// an error naming the columns there are).
    fn keys(&self, options: &ResolveOptions) -> Result<Vec<Vec<Option<String>>>> {
        options
            .block_on
            .iter()
            .map(|rule| {
                let columns: Vec<Vec<String>> = rule
                    .columns
                    .iter()
                    .map(|c| {
                        let i = self.table.column(c)?;
                        Ok(self.table.rows.iter().map(|r| r[i].clone()).collect())
                    })
                    .collect::<Result<_>>()?;
                let slices: Vec<&[String]> = columns.iter().map(Vec::as_slice).collect();
                Ok(block_keys(&slices))
            })
            .collect()
    }
}

fn bar(options: &ResolveOptions, len: usize, what: &str) -> ProgressBar {
    if !options.progress {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len as u64);
    bar.set_style(
        ProgressStyle::with_template("{msg:>10} [{bar:30}] {pos}/{len} ({per_sec}, {eta})")
            .expect("template")
            .progress_chars("=> "),
    );
    bar.set_message(what.to_owned());
    bar
}

/// A table read, its fields resolved against the model, not yet encoded.
struct ReadSide {
    table: Table,
    records: TableRecords,
    fields: Vec<String>,
}

fn read_side(pipeline: &Pipeline, input: &TableInput) -> Result<ReadSide> {
    let table = read_table(&input.path)?;
    let config = pipeline.config();
    let fields = resolve_fields(
        input.fields.as_deref(),
        &config.data.mapping.record1,
        config.record_mode(),
        &table.source,
        &table.columns,
    )?;
    let records = table_records(
        &table,
        &input.id_column,
        &fields,
        input.entity_column.as_deref(),
    )?;
    Ok(ReadSide {
        table,
        records,
        fields,
    })
}

fn encode_side(
    pipeline: &Pipeline,
    read: ReadSide,
    options: &ResolveOptions,
    what: &str,
) -> Result<Side> {
    let progress = bar(options, read.records.records.len(), what);
    let vectors = pipeline.encode_records(&read.records.records, options.batch_size, &|done| {
        progress.set_position(done as u64)
    })?;
    progress.finish_and_clear();
    Ok(Side {
        table: read.table,
        records: read.records,
        fields: read.fields,
        vectors,
    })
}

/// Every table of a run read (all before any is encoded, so that a bad table fails fast),
/// then encoded, in order; the two phases timed into `t`.
fn read_and_encode(
    pipeline: &Pipeline,
    inputs: &[(&TableInput, &str)],
    options: &ResolveOptions,
    t: &mut Timings,
) -> Result<Vec<Side>> {
    let clock = Instant::now();
    let read = inputs
        .iter()
        .map(|(input, _)| read_side(pipeline, input))
        .collect::<Result<Vec<_>>>()?;
    t.read = clock.elapsed().as_secs_f64();
    let clock = Instant::now();
    let sides = read
        .into_iter()
        .zip(inputs)
        .map(|(r, (_, what))| encode_side(pipeline, r, options, what))
        .collect::<Result<Vec<_>>>()?;
    t.encode = clock.elapsed().as_secs_f64();
    Ok(sides)
}

/// What `dedupe` and `link` set up before reading a table: the output folder (created, not
/// yet complete), the model, which label is a match and at what threshold.
struct RunStart {
    started: Instant,
    folder: OutputFolder,
    pipeline: Pipeline,
    labels: Vec<String>,
    match_index: usize,
    threshold: f32,
    threshold_from: String,
    timings: Timings,
}

impl RunStart {
    fn new(
        model_dir: &Path,
        device: crate::Device,
        options: &ResolveOptions,
        output: &Path,
    ) -> Result<Self> {
        options.validate()?;
        let started = Instant::now();
        let folder = OutputFolder::create(output, options.overwrite)?;
        let pipeline = Pipeline::load(model_dir, device)?;
        let labels = pipeline.labels();
        let match_index = match_label(&labels, options.match_label.as_deref())?;
        let (threshold, threshold_from) = threshold(model_dir, options, &labels[match_index])?;
        let timings = Timings {
            load_model: started.elapsed().as_secs_f64(),
            ..Default::default()
        };
        Ok(Self {
            started,
            folder,
            pipeline,
            labels,
            match_index,
            threshold,
            threshold_from,
            timings,
        })
    }
}

/// The match probability of each candidate, from the pair head on the cached vectors.
/// `symmetric` (a deduplication, where no record comes first) averages both orders. The
/// chunks of `score_batch_size` pairs run on rayon's pool, each into its own part of the
/// answer.
fn score(
    pipeline: &Pipeline,
    left: &RecordVectors,
    right: &RecordVectors,
    pairs: &[CandidatePair],
    match_index: usize,
    symmetric: bool,
    options: &ResolveOptions,
) -> Result<Vec<f32>> {
    let classes = pipeline.labels().len();
    let dim = left.dim;
    let progress = bar(options, pairs.len(), "score");
    let mut out = vec![0f32; pairs.len()];
    let size = options.score_batch_size;
    pairs
        .par_chunks(size)
        .zip(out.par_chunks_mut(size))
        .try_for_each(|(chunk, answer)| -> Result<()> {
            let rows = if symmetric { 2 } else { 1 } * chunk.len();
            let mut u = Vec::with_capacity(rows * dim);
            let mut v = Vec::with_capacity(rows * dim);
            for p in chunk {
                u.extend_from_slice(left.row(p.a as usize));
                v.extend_from_slice(right.row(p.b as usize));
            }
            if symmetric {
                for p in chunk {
                    u.extend_from_slice(right.row(p.b as usize));
                    v.extend_from_slice(left.row(p.a as usize));
                }
            }
            let probs = pipeline.score_encoded(&u, &v, dim)?;
            let at = |row: usize| probs[row * classes + match_index];
            for (i, slot) in answer.iter_mut().enumerate() {
                *slot = if symmetric {
                    (at(i) + at(chunk.len() + i)) / 2.0
                } else {
                    at(i)
                };
            }
            progress.inc(chunk.len() as u64);
            Ok(())
        })?;
    progress.finish_and_clear();
    Ok(out)
}

/// The threshold and where it came from: `--threshold`, the model folder's
/// `threshold.json` (written by `biome train`), or 0.5.
fn threshold(model_dir: &Path, options: &ResolveOptions, label: &str) -> Result<(f32, String)> {
    if let Some(t) = options.threshold {
        return Ok((t, "--threshold".into()));
    }
    crate::threshold::for_label(model_dir, label)
}

/// Entity ids as small integers, shared by both tables of a link.
fn entity_numbers(sides: &[&TableRecords]) -> Option<Vec<Vec<u32>>> {
    let mut numbers: HashMap<&str, u32> = HashMap::new();
    sides
        .iter()
        .map(|s| {
            s.entities.as_ref().map(|e| {
                e.iter()
                    .map(|x| {
                        let next = numbers.len() as u32;
                        *numbers.entry(x.as_str()).or_insert(next)
                    })
                    .collect()
            })
        })
        .collect()
}

fn candidate_summary(
    candidates: &Candidates,
    rules: Vec<biome_resolve::BlockingStats>,
    per: usize,
    index: biome_resolve::NeighbourIndex,
    options: &ResolveOptions,
) -> CandidateSummary {
    CandidateSummary {
        neighbours: options.neighbours,
        neighbours_index: index,
        max_block_size: options.max_block_size,
        pairs: candidates.len(),
        per_record: candidates.len() as f64 / per.max(1) as f64,
        from_neighbours: candidates.count(Source::NEIGHBOURS),
        from_blocking: candidates.count(Source::BLOCKING),
        from_both: candidates.count(Source::NEIGHBOURS | Source::BLOCKING),
        rules,
    }
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

fn write_pairs(
    path: &Path,
    header: [&str; 3],
    pairs: &[CandidatePair],
    probs: &[f32],
    floor: f32,
    ids: (&[String], &[String]),
) -> Result<usize> {
    let mut order: Vec<usize> = (0..pairs.len()).filter(|&i| probs[i] >= floor).collect();
    order.sort_by(|&x, &y| probs[y].total_cmp(&probs[x]).then(x.cmp(&y)));
    let mut w = csv_writer(path)?;
    w.write_record(header).map_err(|e| csv_error(path, e))?;
    for &i in &order {
        let p = pairs[i];
        w.write_record([
            ids.0[p.a as usize].as_str(),
            ids.1[p.b as usize].as_str(),
            &format!("{:.6}", probs[i]),
        ])
        .map_err(|e| csv_error(path, e))?;
    }
    w.flush().map_err(|e| BiomeError::io(path, e))?;
    Ok(order.len())
}

fn print_summary(s: &ResolveSummary) {
    let t = &s.seconds;
    eprintln!(
        "{}: {} records; {} candidate pairs ({:.1} per record: {} from neighbours, {} from blocking); {} accepted at {:.3}; {} clusters ({} with more than one record)",
        s.command,
        s.tables.iter().map(|t| t.records).sum::<usize>(),
        s.candidates.pairs,
        s.candidates.per_record,
        s.candidates.from_neighbours,
        s.candidates.from_blocking,
        s.accepted_pairs,
        s.threshold,
        s.clusters,
        s.cluster_sizes
            .iter()
            .filter(|(size, _)| **size > 1)
            .map(|(_, n)| n)
            .sum::<u64>(),
    );
    eprintln!(
        "seconds: read {:.2}, encode {:.2}, candidates {:.2}, score {:.2}, cluster {:.2}, write {:.2}; total {:.2}",
        t.read, t.encode, t.candidates, t.score, t.cluster, t.write, t.total
    );
    if let Some(e) = &s.evaluation {
        eprintln!(
            "against {}: blocking recall {:.4} (reduction ratio {:.6}); pairs P/R/F1 {:.4}/{:.4}/{:.4}; clusters P/R/F1 {:.4}/{:.4}/{:.4}",
            e.entity_column,
            e.blocking_recall,
            e.reduction_ratio,
            e.pairs.precision,
            e.pairs.recall,
            e.pairs.f1,
            e.clusters.precision,
            e.clusters.recall,
            e.clusters.f1
        );
    }
    for rule in &s.candidates.rules {
        if rule.dropped_blocks > 0 {
            eprintln!(
                "blocking rule {}: {} blocks over {} records dropped ({} pairs; largest {} records)",
                rule.rule,
                rule.dropped_blocks,
                s.candidates.max_block_size,
                rule.dropped_pairs,
                rule.largest_dropped_block
            );
        }
    }
}

fn write_summary(folder: &OutputFolder, summary: &ResolveSummary) -> Result<()> {
    let path = folder.file("summary.json");
    let text = serde_json::to_string_pretty(summary).expect("summary serialises");
    std::fs::write(&path, text + "\n").map_err(|e| BiomeError::io(&path, e))
}

/// Deduplicates one table with a trained model; writes `output` (see the module docs).
pub fn dedupe(
    model_dir: &Path,
    device: crate::Device,
    input: &TableInput,
    options: &ResolveOptions,
    output: &Path,
) -> Result<ResolveSummary> {
    let RunStart {
        started,
        folder,
        pipeline,
        labels,
        match_index,
        threshold,
        threshold_from,
        timings: mut t,
    } = RunStart::new(model_dir, device, options, output)?;
    let side = read_and_encode(&pipeline, &[(input, "encode")], options, &mut t)?
        .pop()
        .expect("one table");
    let n = side.records.ids.len();

    let clock = Instant::now();
    // The blocking rules run beside the neighbour search (they need no vectors); their keys
    // first, so that a missing column fails before the search.
    let keys = side.keys(options)?;
    let (neighbours, blocking) = rayon::join(
        || {
            if options.neighbours == 0 {
                return vec![];
            }
            let set = VectorSet::new(side.vectors.dim, side.vectors.data.as_slice());
            find_neighbours(
                &set,
                &set,
                options.neighbours,
                true,
                options.neighbours_index,
            )
        },
        || {
            let mut blocked = vec![];
            let mut rule_stats = vec![];
            for (rule, keys) in options.block_on.iter().zip(&keys) {
                let (pairs, stats) = dedupe_pairs(rule, keys, options.max_block_size);
                blocked.extend(pairs);
                rule_stats.push(stats);
            }
            (blocked, rule_stats)
        },
    );
    let (blocked, rule_stats) = blocking;
    let candidates = Candidates::dedupe(&neighbours, blocked);
    drop(neighbours);
    t.candidates = clock.elapsed().as_secs_f64();

    let clock = Instant::now();
    let probs = score(
        &pipeline,
        &side.vectors,
        &side.vectors,
        &candidates.pairs,
        match_index,
        true,
        options,
    )?;
    t.score = clock.elapsed().as_secs_f64();

    let clock = Instant::now();
    let scored: Vec<(u32, u32, f32)> = candidates
        .pairs
        .iter()
        .zip(&probs)
        .map(|(p, &s)| (p.a, p.b, s))
        .collect();
    let clusters = cluster_dedupe(n, &scored, threshold, options.clustering);
    let accepted = probs.iter().filter(|&&p| p >= threshold).count();
    t.cluster = clock.elapsed().as_secs_f64();

    let evaluation = match (entity_numbers(&[&side.records]), &input.entity_column) {
        (Some(e), Some(column)) => {
            let entities = &e[0];
            let true_pairs = true_pair_count(entities);
            let hits = |source: Option<Source>| {
                candidates
                    .pairs
                    .iter()
                    .filter(|p| source.is_none_or(|s| p.source.contains(s)))
                    .filter(|p| entities[p.a as usize] == entities[p.b as usize])
                    .count() as u64
            };
            let possible = (n as u64) * (n as u64).saturating_sub(1) / 2;
            // The run's own method is not clustered a second time.
            let other = |method| {
                if method == options.clustering {
                    cluster_scores(&clusters, entities)
                } else {
                    cluster_scores(&cluster_dedupe(n, &scored, threshold, method), entities)
                }
            };
            Some(Evaluation {
                entity_column: column.clone(),
                entities: size_distribution(entities).values().sum::<u64>() as usize,
                true_pairs,
                possible_pairs: possible,
                blocking_recall: ratio(hits(None), true_pairs),
                blocking_recall_neighbours: ratio(hits(Some(Source::NEIGHBOURS)), true_pairs),
                blocking_recall_rules: ratio(hits(Some(Source::BLOCKING)), true_pairs),
                reduction_ratio: 1.0 - ratio(candidates.len() as u64, possible),
                pairs: pair_scores(
                    scored
                        .iter()
                        .filter(|s| s.2 >= threshold)
                        .map(|s| (s.0, s.1)),
                    entities,
                ),
                clusters: cluster_scores(&clusters, entities),
                clusters_connected_components: other(Clustering::Components),
                clusters_average_linkage: other(Clustering::AverageLinkage),
                entity_sizes: size_distribution(entities),
            })
        }
        _ => None,
    };

    let clock = Instant::now();
    let ids = &side.records.ids;
    let reported = write_pairs(
        &folder.file("pairs.csv"),
        ["id1", "id2", "probability"],
        &candidates.pairs,
        &probs,
        options.report_floor,
        (ids, ids),
    )?;
    write_csv(
        &folder.file("clusters.csv"),
        ["id", "cluster_id"],
        ids.iter()
            .zip(&clusters)
            .map(|(id, c)| [id.clone(), c.to_string()]),
    )?;
    t.write = clock.elapsed().as_secs_f64();

    let cluster_sizes = size_distribution(&clusters);
    let mut summary = ResolveSummary {
        command: "dedupe".into(),
        model: model_dir.display().to_string(),
        tables: vec![side.summary()],
        match_label: labels[match_index].clone(),
        threshold,
        threshold_from,
        clustering: options.clustering.name().into(),
        candidates: candidate_summary(
            &candidates,
            rule_stats,
            n,
            options.neighbours_index.resolve(n, n),
            options,
        ),
        scored_pairs: probs.len(),
        reported_pairs: reported,
        report_floor: options.report_floor,
        accepted_pairs: accepted,
        links: None,
        clusters: cluster_sizes.values().sum::<u64>() as usize,
        cluster_sizes,
        seconds: t,
        evaluation,
    };
    summary.seconds.total = started.elapsed().as_secs_f64();
    write_summary(&folder, &summary)?;
    folder.finish()?;
    print_summary(&summary);
    Ok(summary)
}

/// Links the right table to the left one with a trained model; writes `output` (see the
/// module docs).
pub fn link(
    model_dir: &Path,
    device: crate::Device,
    left: &TableInput,
    right: &TableInput,
    options: &ResolveOptions,
    output: &Path,
) -> Result<ResolveSummary> {
    let RunStart {
        started,
        folder,
        pipeline,
        labels,
        match_index,
        threshold,
        threshold_from,
        timings: mut t,
    } = RunStart::new(model_dir, device, options, output)?;
    let mut sides = read_and_encode(
        &pipeline,
        &[(left, "encode left"), (right, "encode right")],
        options,
        &mut t,
    )?;
    let right_side = sides.pop().expect("two tables");
    let left_side = sides.pop().expect("two tables");
    let (nl, nr) = (left_side.records.ids.len(), right_side.records.ids.len());

    let clock = Instant::now();
    // The blocking rules run beside the neighbour search (they need no vectors); their keys
    // first, so that a missing column fails before the search.
    let left_keys = left_side.keys(options)?;
    let right_keys = right_side.keys(options)?;
    let (neighbours, blocking) = rayon::join(
        || {
            if options.neighbours == 0 {
                return vec![];
            }
            let db = VectorSet::new(left_side.vectors.dim, left_side.vectors.data.as_slice());
            let queries =
                VectorSet::new(right_side.vectors.dim, right_side.vectors.data.as_slice());
            find_neighbours(
                &db,
                &queries,
                options.neighbours,
                false,
                options.neighbours_index,
            )
        },
        || {
            let mut blocked = vec![];
            let mut rule_stats = vec![];
            for ((rule, lk), rk) in options.block_on.iter().zip(&left_keys).zip(&right_keys) {
                let (pairs, stats) = link_pairs(rule, lk, rk, options.max_block_size);
                blocked.extend(pairs);
                rule_stats.push(stats);
            }
            (blocked, rule_stats)
        },
    );
    let (blocked, rule_stats) = blocking;
    let candidates = Candidates::link(&neighbours, blocked);
    drop(neighbours);
    t.candidates = clock.elapsed().as_secs_f64();

    let clock = Instant::now();
    let probs = score(
        &pipeline,
        &left_side.vectors,
        &right_side.vectors,
        &candidates.pairs,
        match_index,
        false,
        options,
    )?;
    t.score = clock.elapsed().as_secs_f64();

    let clock = Instant::now();
    let scored: Vec<(u32, u32, f32)> = candidates
        .pairs
        .iter()
        .zip(&probs)
        .map(|(p, &s)| (p.a, p.b, s))
        .collect();
    let accepted_count = probs.iter().filter(|&&p| p >= threshold).count();
    // With --one-to-one, only the kept links take part in the clusters.
    let kept: Vec<(u32, u32, f32)> = if options.one_to_one {
        one_to_one(&scored, threshold)
    } else {
        scored
            .iter()
            .copied()
            .filter(|s| s.2 >= threshold)
            .collect()
    };
    let cluster_input: &[(u32, u32, f32)] = if options.one_to_one { &kept } else { &scored };
    let clusters = cluster_link(nl, nr, cluster_input, threshold, options.clustering);
    t.cluster = clock.elapsed().as_secs_f64();

    let evaluation = match (
        entity_numbers(&[&left_side.records, &right_side.records]),
        &right.entity_column,
    ) {
        (Some(e), Some(column)) if e.len() == 2 => {
            let (el, er) = (&e[0], &e[1]);
            let true_pairs = true_link_count(el, er);
            let hits = |source: Option<Source>| {
                candidates
                    .pairs
                    .iter()
                    .filter(|p| source.is_none_or(|s| p.source.contains(s)))
                    .filter(|p| el[p.a as usize] == er[p.b as usize])
                    .count() as u64
            };
            let possible = nl as u64 * nr as u64;
            let split = |c: &[u32]| link_cluster_scores(&c[..nl], &c[nl..], el, er);
            // The run's own method is not clustered a second time.
            let other = |method| {
                if method == options.clustering {
                    split(&clusters)
                } else {
                    split(&cluster_link(nl, nr, cluster_input, threshold, method))
                }
            };
            let mut sizes = size_distribution(el);
            for (k, v) in size_distribution(er) {
                *sizes.entry(k).or_insert(0) += v;
            }
            Some(Evaluation {
                entity_column: column.clone(),
                entities: {
                    let mut all: Vec<u32> = el.iter().chain(er).copied().collect();
                    all.sort_unstable();
                    all.dedup();
                    all.len()
                },
                true_pairs,
                possible_pairs: possible,
                blocking_recall: ratio(hits(None), true_pairs),
                blocking_recall_neighbours: ratio(hits(Some(Source::NEIGHBOURS)), true_pairs),
                blocking_recall_rules: ratio(hits(Some(Source::BLOCKING)), true_pairs),
                reduction_ratio: 1.0 - ratio(candidates.len() as u64, possible),
                pairs: link_pair_scores(kept.iter().map(|s| (s.0, s.1)), el, er),
                clusters: split(&clusters),
                clusters_connected_components: other(Clustering::Components),
                clusters_average_linkage: other(Clustering::AverageLinkage),
                entity_sizes: {
                    // entity size counted over both tables
                    let joint: Vec<u32> = el.iter().chain(er).copied().collect();
                    size_distribution(&joint)
                },
            })
        }
        _ => None,
    };

    let clock = Instant::now();
    let (lids, rids) = (&left_side.records.ids, &right_side.records.ids);
    let reported = write_pairs(
        &folder.file("pairs.csv"),
        ["left_id", "right_id", "probability"],
        &candidates.pairs,
        &probs,
        options.report_floor,
        (lids, rids),
    )?;
    let mut sorted = kept.clone();
    sorted.sort_by(|x, y| y.2.total_cmp(&x.2).then((x.0, x.1).cmp(&(y.0, y.1))));
    write_csv(
        &folder.file("links.csv"),
        ["left_id", "right_id", "probability"],
        sorted.iter().map(|(l, r, p)| {
            [
                lids[*l as usize].clone(),
                rids[*r as usize].clone(),
                format!("{p:.6}"),
            ]
        }),
    )?;
    write_csv(
        &folder.file("clusters.csv"),
        ["source", "id", "cluster_id"],
        clusters.iter().enumerate().map(|(i, c)| {
            let (source, id) = if i < nl {
                ("left", &lids[i])
            } else {
                ("right", &rids[i - nl])
            };
            [source.to_string(), id.clone(), c.to_string()]
        }),
    )?;
    t.write = clock.elapsed().as_secs_f64();

    let cluster_sizes = size_distribution(&clusters);
    let mut summary = ResolveSummary {
        command: "link".into(),
        model: model_dir.display().to_string(),
        tables: vec![left_side.summary(), right_side.summary()],
        match_label: labels[match_index].clone(),
        threshold,
        threshold_from,
        clustering: options.clustering.name().into(),
        candidates: candidate_summary(
            &candidates,
            rule_stats,
            nr,
            options.neighbours_index.resolve(nl, nr),
            options,
        ),
        scored_pairs: probs.len(),
        reported_pairs: reported,
        report_floor: options.report_floor,
        accepted_pairs: accepted_count,
        links: Some(kept.len()),
        clusters: cluster_sizes.values().sum::<u64>() as usize,
        cluster_sizes,
        seconds: t,
        evaluation,
    };
    summary.seconds.total = started.elapsed().as_secs_f64();
    write_summary(&folder, &summary)?;
    folder.finish()?;
    print_summary(&summary);
    Ok(summary)
}

/// Writes every record's vector as CSV (`id,v0,v1,…`), for users' own indexes; returns the
/// number of records and the vector size.
pub fn encode_table(
    model_dir: &Path,
    device: crate::Device,
    input: &TableInput,
    options: &ResolveOptions,
    output: &Path,
) -> Result<(usize, usize)> {
    if output.exists() && !options.overwrite {
        return Err(super::ResolveError::OutputExists(output.to_path_buf()).into());
    }
    let pipeline = Pipeline::load(model_dir, device)?;
    let side = encode_side(&pipeline, read_side(&pipeline, input)?, options, "encode")?;
    let dim = side.vectors.dim;
    let name = output
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "vectors.csv".into());
    let partial = output.with_file_name(format!(".{name}.partial-{}", std::process::id()));
    let write = || -> Result<()> {
        let mut w = csv_writer(&partial)?;
        let header: Vec<String> = std::iter::once("id".to_string())
            .chain((0..dim).map(|i| format!("v{i}")))
            .collect();
        w.write_record(&header)
            .map_err(|e| csv_error(&partial, e))?;
        for (i, id) in side.records.ids.iter().enumerate() {
            let row: Vec<String> = std::iter::once(id.clone())
                .chain(side.vectors.row(i).iter().map(|x| x.to_string()))
                .collect();
            w.write_record(&row).map_err(|e| csv_error(&partial, e))?;
        }
        w.flush().map_err(|e| BiomeError::io(&partial, e))?;
        std::fs::rename(&partial, output).map_err(|e| BiomeError::io(output, e))
    };
    let result = write();
    if result.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    result?;
    Ok((side.records.ids.len(), dim))
}

/// Encodes every record of a table and writes the record index `biome serve --index` loads
/// (see [`super::index`]); returns the number of records and the vector size.
pub fn index_table(
    model_dir: &Path,
    device: crate::Device,
    input: &TableInput,
    options: &ResolveOptions,
    output: &Path,
) -> Result<(usize, usize)> {
    if output.exists() && !options.overwrite {
        return Err(super::ResolveError::OutputExists(output.to_path_buf()).into());
    }
    let fingerprint = super::index::model_fingerprint(model_dir)?;
    let pipeline = Pipeline::load(model_dir, device)?;
    let side = encode_side(&pipeline, read_side(&pipeline, input)?, options, "encode")?;
    let header = super::index::IndexHeader {
        format_version: super::index::FORMAT_VERSION,
        biome_version: env!("CARGO_PKG_VERSION").into(),
        model_fingerprint: fingerprint,
        dim: side.vectors.dim,
        source: side.records.source.clone(),
        fields: side.fields.clone(),
        ids: side.records.ids.clone(),
    };
    super::index::write_index(output, &header, &side.vectors.data)?;
    Ok((header.ids.len(), header.dim))
}
