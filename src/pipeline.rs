//! The library API: configure, train, load, predict, evaluate.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use biome_core::{
    Batcher, Dataset, LABELS, PairExample, Record, Tokenizer, Vocabulary, build_vocabulary,
    read_dataset, sequential_batches,
};
use biome_models::{Prediction, RecordTensors, SequencePairClassifier, Weights};
use burn::prelude::*;

use biome_train::observer::{ProgressBars, TrainObserver, TrainingCurve};
use biome_train::{TrainRun, TrainSummary, archive, checkpoint};

use crate::config::PipelineConfig;
use crate::error::{BiomeError, Result};
use crate::transformer_files::TransformerFiles;

/// The vocabulary of a model with a transformer embedder: the labels of `examples` (in the
/// order a word model's vocabulary would give them) and empty token namespaces.
fn label_vocabulary(examples: &[PairExample]) -> Vocabulary {
    let mut builder = biome_core::VocabularyBuilder::new();
    for label in examples.iter().filter_map(|e| e.label.as_deref()) {
        builder.count(LABELS, label);
    }
    let mut vocab = builder.build(&biome_core::VocabularyOptions::default());
    for ns in [biome_core::TOKENS, biome_core::TOKEN_CHARACTERS, LABELS] {
        vocab.add_namespace(ns);
    }
    vocab
}

/// A configured pipeline; trained once [`Pipeline::train`] ran or [`Pipeline::load`] read a
/// model.
///
/// ```
/// use biome::{Device, Pipeline, PipelineConfig};
/// use biome_core::{PairExample, Record};
///
/// let config = PipelineConfig::from_json_str(r#"{
///   "data": {"mapping": {"label": "label", "record1": "a", "record2": "b"}},
///   "model": {"text_field_embedder": {"tokens": {"embedding": {"embedding_dim": 8}}},
///             "seq2vec_encoder": {"boe": {"averaged": true}}},
///   "trainer": {"num_epochs": 2, "batch_size": 4}
/// }"#, "example").unwrap();
/// let train: Vec<PairExample> = (0..8)
///     .map(|i| {
///         let same = i % 2 == 0;
///         let b = if same { "anna smith" } else { "bob jones" };
///         PairExample::new(Record::Text("anna smith".into()), Record::Text(b.into()),
///                          if same { "duplicate" } else { "not_duplicate" })
///     })
///     .collect();
/// let out = tempfile::tempdir().unwrap();
/// let mut pipeline = Pipeline::from_config(config, Device::flex()).unwrap();
/// pipeline.train_examples(&train, None, out.path(), false).unwrap();
/// let p = pipeline.predict(Record::Text("anna smith".into()), Record::Text("anna smith".into())).unwrap();
/// assert!(p.classes.contains_key("duplicate"));
/// let loaded = Pipeline::load(out.path(), Device::flex()).unwrap();
/// assert_eq!(loaded.labels(), pipeline.labels());
/// ```
pub struct Pipeline {
    config: PipelineConfig,
    device: Device,
    batcher: Batcher,
    /// A transformer embedder's tokenizer and configuration files (archived with the model).
    transformer: Option<TransformerFiles>,
    trained: Option<Trained>,
}

struct Trained {
    vocab: Vocabulary,
    model: SequencePairClassifier,
}

impl Pipeline {
    /// A pipeline for `config` on `device` (a plain device such as `Device::flex()`; training
    /// adds autodiff itself); not trained yet. [`crate::device_from_name`] reads a device name.
    ///
    /// With a transformer embedder (`text_field_embedder.transformer`), its folder
    /// `model_name` (relative to the current directory) gives the tokenizer now and the
    /// pretrained weights when training starts.
    pub fn from_config(config: PipelineConfig, device: Device) -> Result<Self> {
        let transformer = match &config.model.text_field_embedder.transformer {
            Some(t) => Some(TransformerFiles::from_folder(
                Path::new(&t.model_name),
                t.max_length,
                config.record_mode(),
            )?),
            None => None,
        };
        Ok(Self::with_transformer(config, device, transformer))
    }

    fn with_transformer(
        config: PipelineConfig,
        device: Device,
        transformer: Option<TransformerFiles>,
    ) -> Self {
        let batcher = match &transformer {
            Some(files) => files.batcher.clone(),
            None => Batcher::new(
                Tokenizer::new(config.data.tokenizer.clone()),
                config.record_mode(),
                config.indexer(),
            ),
        };
        Self {
            config,
            device,
            batcher,
            transformer,
            trained: None,
        }
    }

    /// Load a trained model folder onto `device` (any backend, whichever trained it).
    pub fn load(dir: impl AsRef<Path>, device: Device) -> Result<Self> {
        let dir = dir.as_ref();
        let opened = archive::open(dir)?;
        let source = dir.join(archive::CONFIG).display().to_string();
        let mut config = PipelineConfig::parse_json_str(&opened.config_json, &source)?;
        // A transformer's tokenizer and architecture come from the archive's copies, so the
        // model loads without its original folder.
        let mode = config.record_mode();
        let transformer = match config.model.text_field_embedder.transformer.take() {
            Some(t) => {
                let files =
                    TransformerFiles::from_archive(dir, &opened.assets, t.max_length, mode)?;
                let origin = dir.join(archive::TRANSFORMER_CONFIG);
                let bert = biome_modules::BertConfig::from_json(&files.config_json(), &origin)
                    .map_err(biome_models::ModelError::from)?;
                config.model.text_field_embedder.transformer = Some(t.with_bert_config(bert));
                Some(files)
            }
            None => None,
        };
        config.validate(&source)?;
        let mut pipeline = Self::with_transformer(config, device, transformer);
        let labels = opened.vocab.tokens(LABELS).to_vec();
        let (model, _) = SequencePairClassifier::new(
            &pipeline.config.model,
            &opened.vocab,
            &labels,
            Weights::ToBeLoaded,
            &pipeline.device,
        )?;
        let vocab = opened.vocab.clone();
        let model = opened.load_weights(model)?;
        pipeline.trained = Some(Trained { vocab, model });
        Ok(pipeline)
    }

    /// The configuration.
    pub fn config(&self) -> &PipelineConfig {
        &self.config
    }

    /// Label names in class order (empty before training).
    pub fn labels(&self) -> Vec<String> {
        self.trained
            .as_ref()
            .map(|t| t.vocab.tokens(LABELS).to_vec())
            .unwrap_or_default()
    }

    /// The trained model, if any.
    pub fn model(&self) -> Option<&SequencePairClassifier> {
        self.trained.as_ref().map(|t| &t.model)
    }

    /// Read a CSV or JSONL file with the configured mapping.
    pub fn read(&self, path: impl AsRef<Path>) -> Result<Dataset> {
        Ok(read_dataset(path, &self.config.data.mapping)?)
    }

    /// Train on CSV/JSONL files; the best model is written to `output` and kept in memory.
    pub fn train(
        &mut self,
        train: impl AsRef<Path>,
        validation: Option<&Path>,
        output: impl AsRef<Path>,
        resume: bool,
    ) -> Result<TrainSummary> {
        let train = self.read(train)?;
        let validation = validation.map(|v| self.read(v)).transpose()?;
        eprintln!("{}", train.summary());
        if let Some(v) = &validation {
            eprintln!("{}", v.summary());
        }
        self.train_examples(
            &train.examples,
            validation.as_ref().map(|v| v.examples.as_slice()),
            output.as_ref(),
            resume,
        )
    }

    /// Train on in-memory examples.
    pub fn train_examples(
        &mut self,
        train: &[PairExample],
        validation: Option<&[PairExample]>,
        output: &Path,
        resume: bool,
    ) -> Result<TrainSummary> {
        for (i, e) in train.iter().enumerate() {
            e.validate()
                .map_err(|err| BiomeError::Invalid(format!("training example {}: {err}", i + 1)))?;
        }
        std::fs::create_dir_all(output).map_err(|e| BiomeError::io(output, e))?;
        // The vocabulary is a function of the training data; a resumed run takes the one in
        // its checkpoint so it uses the very same one.
        let checkpoint = resume.then(|| checkpoint::read(output)).transpose()?;
        let vocab = match &checkpoint {
            Some(c) => c.vocabulary.clone(),
            // A transformer has its own vocabulary: only the labels come from the data.
            None if self.transformer.is_some() => label_vocabulary(train),
            None => build_vocabulary(
                train,
                &self.batcher.tokenizer,
                self.config.record_mode(),
                &self.config.vocabulary_options(),
            ),
        };
        let labels = vocab.tokens(LABELS).to_vec();
        let ad_device = self.device.clone().autodiff();
        ad_device.seed(self.config.trainer.seed);
        let (model, reports) = SequencePairClassifier::new(
            &self.config.model,
            &vocab,
            &labels,
            Weights::Fresh {
                seed: self.config.trainer.seed,
            },
            &ad_device,
        )?;
        for r in reports {
            eprintln!("pretrained embeddings: {r}");
        }
        let config_json = self.config.to_json();
        let run = TrainRun {
            trainer: &self.config.trainer,
            regularizer: &self.config.model.regularizer,
            config_json: &config_json,
            assets: self
                .transformer
                .as_ref()
                .map_or(&[], |t| t.assets.as_slice()),
            vocab: &vocab,
            batcher: &self.batcher,
            train,
            validation,
            output,
            resume: checkpoint.as_ref(),
            device: &self.device,
        };
        let mut progress = ProgressBars::default();
        let mut curve = TrainingCurve::new(output.join("training_curve.svg"));
        let mut observers: [&mut dyn TrainObserver; 2] = [&mut progress, &mut curve];
        let (model, summary) = biome_train::train(model, &run, &mut observers)?;
        let metrics_json = serde_json::to_string_pretty(&summary).expect("summary");
        archive::write_atomic(&output.join("metrics.json"), metrics_json.as_bytes())?;
        self.trained = Some(Trained { vocab, model });
        // The match threshold `biome dedupe` uses (for a model whose labels say which one
        // is a match).
        if let Some(validation) = validation
            && let Some(t) = self.choose_threshold(validation)?
        {
            eprintln!(
                "match threshold for {:?}: {:.4} (validation P/R/F1 {:.4}/{:.4}/{:.4}), in {}",
                t.label,
                t.threshold,
                t.precision,
                t.recall,
                t.f1,
                output.join(crate::threshold::FILE).display()
            );
            crate::threshold::write_stored(output, &t)?;
        }
        Ok(summary)
    }

    /// The F1-best match threshold on labelled `examples` plus the negatives a table would
    /// show (see [`Pipeline::with_table_negatives`]); `None` when the model's labels do not
    /// say which is a match, or no example is a match.
    pub fn choose_threshold(
        &self,
        examples: &[PairExample],
    ) -> Result<Option<crate::threshold::StoredThreshold>> {
        let labels = self.labels();
        let Ok(index) = crate::match_label::match_label(&labels, None) else {
            return Ok(None);
        };
        let other = 1 - index; // a match label is only found for two-class models
        let examples = self.with_table_negatives(examples, &labels[index], &labels[other])?;
        let predictions = self.predict_batch(&examples)?;
        Ok(crate::threshold::choose(
            &predictions,
            &examples,
            &labels[index],
        ))
    }

    /// `examples` plus, for each, the non-match a table would show the model: its first
    /// record with the nearest (by record vector) second record of another example that is not
    /// the same entity, labelled `non_match`. Records joined by `matched` pairs, directly or
    /// through others, count as one entity (labelled pairs reuse records: a duplicate is often
    /// also the second record of some unrelated pair). Labelled pairs are mostly easy
    /// negatives; a table's candidates are each record's nearest neighbours, so a threshold
    /// chosen on the pairs alone accepts far too many of them.
    pub fn with_table_negatives(
        &self,
        examples: &[PairExample],
        matched: &str,
        non_match: &str,
    ) -> Result<Vec<PairExample>> {
        let first: Vec<Record> = examples.iter().map(|e| e.record1.clone()).collect();
        let second: Vec<Record> = examples.iter().map(|e| e.record2.clone()).collect();
        let u = self.encode_records(&first, 256, &|_| {})?;
        let v = self.encode_records(&second, 256, &|_| {})?;
        let mut out = examples.to_vec();
        if u.dim == 0 {
            return Ok(out);
        }
        let nearest = biome_resolve::nearest_neighbours(
            &biome_resolve::VectorSet::new(v.dim, v.data),
            &biome_resolve::VectorSet::new(u.dim, u.data),
            8,
            false,
        );
        // entities: records (by text) joined by matched pairs
        let mut number: HashMap<String, usize> = HashMap::new();
        let mut id = |r: &Record| {
            let next = number.len();
            *number.entry(r.to_text().into_owned()).or_insert(next)
        };
        let ids: Vec<[usize; 2]> = examples
            .iter()
            .map(|e| [id(&e.record1), id(&e.record2)])
            .collect();
        let mut parent: Vec<usize> = (0..number.len()).collect();
        fn root(parent: &mut [usize], mut x: usize) -> usize {
            while parent[x] != x {
                parent[x] = parent[parent[x]];
                x = parent[x];
            }
            x
        }
        for (e, [a, b]) in examples.iter().zip(&ids) {
            if e.label.as_deref() == Some(matched) {
                let (ra, rb) = (root(&mut parent, *a), root(&mut parent, *b));
                parent[ra] = rb;
            }
        }
        for (i, row) in nearest.iter().enumerate() {
            let anchor = root(&mut parent, ids[i][0]);
            let unrelated = row
                .iter()
                .map(|&(j, _)| j as usize)
                .find(|&j| root(&mut parent, ids[j][1]) != anchor);
            if let Some(j) = unrelated {
                out.push(PairExample::new(
                    examples[i].record1.clone(),
                    examples[j].record2.clone(),
                    non_match,
                ));
            }
        }
        Ok(out)
    }

    fn trained(&self) -> Result<&Trained> {
        self.trained.as_ref().ok_or_else(|| {
            BiomeError::Invalid("the pipeline has no trained model: train or load one".into())
        })
    }

    /// Predict one pair.
    pub fn predict(&self, record1: Record, record2: Record) -> Result<Prediction> {
        let mut out = self.predict_batch(&[PairExample::unlabelled(record1, record2)])?;
        Ok(out.remove(0))
    }

    /// Predict many pairs (batched), in input order.
    pub fn predict_batch(&self, pairs: &[PairExample]) -> Result<Vec<Prediction>> {
        let trained = self.trained()?;
        for e in pairs {
            e.validate()?;
        }
        let unlabelled: Vec<PairExample> = pairs
            .iter()
            .map(|e| PairExample::unlabelled(e.record1.clone(), e.record2.clone()))
            .collect();
        let mut out = Vec::with_capacity(pairs.len());
        for idx in sequential_batches(unlabelled.len(), 256)? {
            let batch = self
                .batcher
                .batch_indices(&unlabelled, &idx, &trained.vocab)?;
            let r1 = RecordTensors::from_batch(&batch.record1, &self.device);
            let r2 = RecordTensors::from_batch(&batch.record2, &self.device);
            let output = trained.model.forward(&r1, &r2, None)?;
            out.extend(trained.model.decode(&output));
        }
        Ok(out)
    }

    /// Record vectors `[B, H]` of the encoder, as rows of floats (for blocking or search).
    pub fn encode(&self, records: &[Record]) -> Result<Vec<Vec<f32>>> {
        let trained = self.trained()?;
        let pairs: Vec<PairExample> = records
            .iter()
            .map(|r| PairExample::unlabelled(r.clone(), r.clone()))
            .collect();
        let mut out = vec![];
        for idx in sequential_batches(pairs.len(), 256)? {
            let batch = self.batcher.batch_indices(&pairs, &idx, &trained.vocab)?;
            let r = RecordTensors::from_batch(&batch.record1, &self.device);
            let v = trained.model.encode(&r)?;
            let [_, h] = v.dims();
            let flat = biome_models::float_values(v);
            out.extend(flat.chunks(h.max(1)).map(|c| c.to_vec()));
        }
        Ok(out)
    }

    /// The batcher (tokenizer, record mode, indexer) the model reads records with.
    pub fn batcher(&self) -> &Batcher {
        &self.batcher
    }

    /// Record vectors of `records` (`[N, H]`, flat, in input order), encoded `batch_size` at a
    /// time with records of similar length together (less padding; padding never changes a
    /// vector). The batches run on rayon's pool, each tokenised and encoded by one worker, so
    /// every core is busy and at most one batch per worker is held at once; the batches are
    /// the same as in one sequential pass, so the vectors are too. `progress` hears how many
    /// records are done after each batch (from any worker).
    ///
    /// A [`biome_kernels::policy::with_fused_ops`] scope of the calling thread does not reach
    /// the workers: they follow the environment.
    pub fn encode_records(
        &self,
        records: &[Record],
        batch_size: usize,
        progress: &(dyn Fn(usize) + Sync),
    ) -> Result<RecordVectors> {
        use rayon::prelude::*;
        use std::sync::Mutex;
        use std::sync::atomic::{AtomicUsize, Ordering};

        let trained = self.trained()?;
        let lengths: Vec<usize> = records
            .par_iter()
            .map(|r| r.values().iter().map(|v| v.len()).sum())
            .collect();
        let mut order: Vec<usize> = (0..records.len()).collect();
        order.sort_by_key(|&i| lengths[i]);
        drop(lengths);
        let batches = sequential_batches(order.len(), batch_size)?;
        let vectors = Mutex::new(RecordVectors::default());
        let done = AtomicUsize::new(0);
        batches.par_iter().try_for_each(|idx| -> Result<()> {
            let picked: Vec<&Record> = idx.iter().map(|&i| &records[order[i]]).collect();
            let batch = self.batcher.records(&picked, &trained.vocab)?;
            let v = trained
                .model
                .encode(&RecordTensors::from_batch(&batch, &self.device))?;
            let [b, h] = v.dims();
            let values = biome_models::float_values(v);
            {
                let mut out = vectors.lock().unwrap_or_else(|e| e.into_inner());
                if out.data.is_empty() {
                    out.dim = h;
                    out.data = vec![0f32; records.len() * h];
                }
                for (row, &i) in values.chunks(h).zip(idx).take(b) {
                    let at = order[i] * h;
                    out.data[at..at + h].copy_from_slice(row);
                }
            }
            progress(done.fetch_add(b, Ordering::Relaxed) + b);
            Ok(())
        })?;
        Ok(vectors.into_inner().unwrap_or_else(|e| e.into_inner()))
    }

    /// Class probabilities `[B, C]` (flat) of pairs of encoded records: `left` and `right` hold
    /// `B` rows of `dim` values each (from [`Pipeline::encode_records`]). Only the pair head
    /// runs, never the encoder.
    pub fn score_encoded(&self, left: &[f32], right: &[f32], dim: usize) -> Result<Vec<f32>> {
        let trained = self.trained()?;
        if dim == 0 || left.len() != right.len() || !left.len().is_multiple_of(dim) {
            return Err(BiomeError::Invalid(format!(
                "score_encoded: {} and {} values are not rows of {dim}",
                left.len(),
                right.len()
            )));
        }
        let b = left.len() / dim;
        if b == 0 {
            return Ok(vec![]);
        }
        let tensor = |values: &[f32]| {
            Tensor::<2>::from_data(
                burn::tensor::TensorData::new(values.to_vec(), [b, dim]),
                &self.device,
            )
        };
        let out = trained.model.score_encoded(tensor(left), tensor(right));
        Ok(biome_models::float_values(out.probs))
    }

    /// Loss and metrics on a labelled CSV/JSONL file.
    pub fn evaluate(&self, path: impl AsRef<Path>) -> Result<BTreeMap<String, f64>> {
        let data = self.read(path)?;
        self.evaluate_examples(&data.examples)
    }

    /// Loss and metrics on labelled examples.
    pub fn evaluate_examples(&self, examples: &[PairExample]) -> Result<BTreeMap<String, f64>> {
        let trained = self.trained()?;
        if examples.is_empty() {
            return Err(BiomeError::Invalid(
                "no labelled examples to evaluate".into(),
            ));
        }
        Ok(biome_train::evaluate_examples(
            &trained.model,
            &self.batcher,
            &trained.vocab,
            examples,
            256,
            &self.device,
        )?)
    }
}

/// Record vectors: `data.len() / dim` rows of `dim` values.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RecordVectors {
    /// Values per record.
    pub dim: usize,
    /// The rows, one after another.
    pub data: Vec<f32>,
}

impl RecordVectors {
    /// Row `i`.
    pub fn row(&self, i: usize) -> &[f32] {
        &self.data[i * self.dim..(i + 1) * self.dim]
    }
}

/// The output folder layout, for users who want to find the files.
pub fn archive_files(dir: &Path) -> Vec<PathBuf> {
    [
        archive::MANIFEST,
        archive::CONFIG,
        archive::VOCABULARY,
        archive::WEIGHTS,
    ]
    .iter()
    .map(|f| dir.join(f))
    .collect()
}
