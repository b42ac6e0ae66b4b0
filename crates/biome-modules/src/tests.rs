//! Cross-module tests: mask exactness of every encoder, multifield compaction, configs.

use burn::prelude::*;

use crate::test_util::*;
use crate::*;

/// Rows of different lengths with garbage at the padded positions.
fn batch(lengths: &[usize], t: usize, d: usize, device: &Device) -> (Tensor<3>, Tensor<2, Bool>) {
    let x = randn([lengths.len(), t, d], device).mul_scalar(3.0);
    (x, lengths_mask(lengths, t, device))
}

/// Check a seq2vec-like function: each row alone (unpadded) equals the row in the padded
/// batch, all-padding rows give zeros, and reversing the batch reverses the output.
fn check_seq2vec(f: impl Fn(Tensor<3>, Tensor<2, Bool>) -> Tensor<2>, d: usize) {
    let device = dev();
    let lengths = [3, 1, 0, 5, 2];
    let t = 6;
    let (x, mask) = batch(&lengths, t, d, &device);
    let out = f(x.clone(), mask.clone());
    let h = out.dims()[1];
    for (i, &l) in lengths.iter().enumerate() {
        let row = to_vec(out.clone().slice_dim(0, i..i + 1));
        if l == 0 {
            assert!(
                row.iter().all(|v| *v == 0.0),
                "all-padding row {i}: {row:?}"
            );
            continue;
        }
        let alone = f(
            x.clone().slice([i..i + 1, 0..l, 0..d]),
            lengths_mask(&[l], l, &device),
        );
        assert_eq!(alone.dims(), [1, h]);
        assert_close(&row, &to_vec(alone), 1e-5);
    }
    let rev: Vec<usize> = (0..lengths.len()).rev().collect();
    let idx = Tensor::<1, Int>::from_data(
        TensorData::new(
            rev.iter().map(|&i| i as i64).collect::<Vec<_>>(),
            [rev.len()],
        ),
        &device,
    );
    let out_rev = f(
        x.select(0, idx.clone()),
        mask.int().select(0, idx.clone()).bool(),
    );
    assert_close(&to_vec(out.select(0, idx)), &to_vec(out_rev), 1e-5);
}

/// The same for seq2seq: real positions match the unpadded row, padded positions are zero.
fn check_seq2seq(f: impl Fn(Tensor<3>, Tensor<2, Bool>) -> Tensor<3>, d: usize) {
    let device = dev();
    let lengths = [3, 1, 0, 5];
    let t = 6;
    let (x, mask) = batch(&lengths, t, d, &device);
    let out = f(x.clone(), mask.clone());
    let h = out.dims()[2];
    for (i, &l) in lengths.iter().enumerate() {
        let pad = to_vec(out.clone().slice([i..i + 1, l..t, 0..h]));
        assert!(pad.iter().all(|v| *v == 0.0), "padding of row {i}: {pad:?}");
        if l == 0 {
            continue;
        }
        let alone = f(
            x.clone().slice([i..i + 1, 0..l, 0..d]),
            lengths_mask(&[l], l, &device),
        );
        let real = to_vec(out.clone().slice([i..i + 1, 0..l, 0..h]));
        assert_close(&real, &to_vec(alone), 1e-5);
    }
}

fn seq2vec(json: &str, d: usize) -> Seq2VecEncoder {
    let cfg: Seq2VecEncoderConfig = serde_json::from_str(json).unwrap();
    cfg.init(d, &dev()).unwrap()
}

#[test]
fn boe_sum_and_mean_are_mask_exact() {
    for json in [r#"{"boe": {}}"#, r#"{"boe": {"averaged": true}}"#] {
        let enc = seq2vec(json, 4);
        assert_eq!(enc.output_dim(), 4);
        check_seq2vec(|x, m| enc.forward(x, m), 4);
    }
}

#[test]
fn boe_values() {
    // Hand-worked, on both paths: the batched product (plain device) and the masked multiply
    // (autodiff device).
    for device in [dev(), ad_dev()] {
        let x = Tensor::<3>::from_data(
            TensorData::new(vec![1f32, 2., 3., 4., 100., 100.], [1, 3, 2]),
            &device,
        );
        let m = lengths_mask(&[2], 3, &device);
        let sum = seq2vec(r#"{"boe": {"embedding_dim": 2}}"#, 2).forward(x.clone(), m.clone());
        assert_eq!(to_vec(sum), vec![4., 6.]);
        let mean = seq2vec(r#"{"boe": {"averaged": true}}"#, 2).forward(x, m);
        assert_eq!(to_vec(mean), vec![2., 3.]);
    }
}

#[test]
fn cnn_is_mask_exact_even_shorter_than_filters() {
    let enc = seq2vec(
        r#"{"cnn": {"num_filters": 3, "ngram_filter_sizes": [1, 2, 4]}}"#,
        4,
    );
    assert_eq!(enc.output_dim(), 9);
    check_seq2vec(|x, m| enc.forward(x, m), 4);
    let enc = seq2vec(
        r#"{"cnn": {"num_filters": 3, "ngram_filter_sizes": [2, 3], "output_dim": 5,
            "conv_layer_activation": "tanh"}}"#,
        4,
    );
    assert_eq!(enc.output_dim(), 5);
    check_seq2vec(|x, m| enc.forward(x, m), 4);
    // T (2) smaller than the largest filter (5) works.
    let device = dev();
    let enc = seq2vec(r#"{"cnn": {"num_filters": 2}}"#, 3);
    let out = enc.forward(randn([2, 2, 3], &device), lengths_mask(&[2, 1], 2, &device));
    assert_eq!(out.dims(), [2, 8]);
    let v = to_vec(out);
    // Row 0 only has a complete 2-gram window; row 1 has none.
    assert!(v[2..8].iter().all(|x| *x == 0.0));
    assert!(v[8..].iter().all(|x| *x == 0.0));
}

#[test]
fn cnn_hand_computed() {
    // D = 1, one bigram filter with weights [1, -1] (over x_t, x_{t+1}), bias 0.5, relu.
    // x = [3, 1, 2, (pad 9)] -> windows (3,1) (1,2): 3-1+.5 = 2.5, 1-2+.5 = -0.5 -> relu 0
    // max = 2.5 (the padded window (2, 9) = -6.5 would not matter anyway; (9, .) excluded).
    let device = dev();
    let cfg: CnnEncoderConfig =
        serde_json::from_str(r#"{"num_filters": 1, "ngram_filter_sizes": [2]}"#).unwrap();
    let mut enc = cfg.init(1, &device).unwrap();
    let conv = &mut enc.convs[0];
    conv.weight = burn::module::Param::from_data(TensorData::new(vec![1f32, -1.], [2, 1]), &device);
    conv.bias = Some(burn::module::Param::from_data(
        TensorData::new(vec![0.5f32], [1]),
        &device,
    ));
    let x = Tensor::<3>::from_data(TensorData::new(vec![3f32, 1., 2., 9.], [1, 4, 1]), &device);
    let out = enc.forward(x.clone(), lengths_mask(&[3], 4, &device));
    assert_eq!(to_vec(out), vec![2.5]);
    // x = [1, 5]: window 1-5+.5 = -3.5 -> relu -> 0, the only window: 0.
    let out = enc.forward(x.slice_dim(1, 1..3), lengths_mask(&[2], 2, &device));
    assert_eq!(to_vec(out), vec![0.0]);
    // A padded window that would win (9 - 0 + .5) is excluded: x = [1, 9], length 1.
    let x = Tensor::<3>::from_data(TensorData::new(vec![9f32, 0., 0.], [1, 3, 1]), &device);
    let out = enc.forward(x, lengths_mask(&[1], 3, &device));
    assert_eq!(to_vec(out), vec![0.0]);
}

#[test]
fn pass_through_and_transformer_are_mask_exact() {
    let device = dev();
    let cfg: Seq2SeqEncoderConfig = serde_json::from_str(r#"{"pass_through": {}}"#).unwrap();
    let enc = cfg.init(4, &device).unwrap();
    assert_eq!(enc.output_dim(), 4);
    check_seq2seq(|x, m| enc.forward(x, m), 4);
    let cfg: Seq2SeqEncoderConfig = serde_json::from_str(
        r#"{"transformer": {"num_layers": 2, "num_attention_heads": 2,
            "feedforward_hidden_dim": 8, "dropout": 0.1}}"#,
    )
    .unwrap();
    let enc = cfg.init(4, &device).unwrap();
    assert_eq!(enc.output_dim(), 4);
    check_seq2seq(|x, m| enc.forward(x, m), 4);
    // Without positions too.
    let cfg: Seq2SeqEncoderConfig = serde_json::from_str(
        r#"{"transformer": {"num_attention_heads": 1, "feedforward_hidden_dim": 8,
            "positional_encoding": false}}"#,
    )
    .unwrap();
    let enc = cfg.init(4, &device).unwrap();
    check_seq2seq(|x, m| enc.forward(x, m), 4);
}

#[test]
fn transformer_heads_must_divide() {
    let cfg: Seq2SeqEncoderConfig = serde_json::from_str(
        r#"{"transformer": {"num_attention_heads": 3, "feedforward_hidden_dim": 8}}"#,
    )
    .unwrap();
    let err = cfg.resolve(4).unwrap_err().to_string();
    assert!(err.contains("not divisible"), "{err}");
}

#[test]
fn positional_features_match_allennlp() {
    let p = to_vec(transformer::positional_features(3, 4, &dev()));
    // timescales 1 and 1e4; position 2: sin(2), sin(2e-4), cos(2), cos(2e-4)
    let want = [2f32.sin(), 2e-4f32.sin(), 2f32.cos(), 2e-4f32.cos()];
    assert_close(&p[8..12], &want, 1e-6);
    assert_close(&p[0..4], &[0., 0., 1., 1.], 0.0);
}

#[test]
fn sequence_encoder_with_seq2seq_is_mask_exact() {
    let cfg: SequenceEncoderConfig = serde_json::from_str(
        r#"{"seq2seq_encoder": {"transformer": {"num_attention_heads": 2,
            "feedforward_hidden_dim": 8}},
            "seq2vec_encoder": {"cnn": {"num_filters": 2, "ngram_filter_sizes": [1, 2],
            "output_dim": 3}}, "dropout": 0.2}"#,
    )
    .unwrap();
    let enc = cfg.init(4, &dev()).unwrap();
    assert_eq!(enc.output_dim(), 3);
    assert_eq!(cfg.output_dim(4).unwrap(), 3);
    check_seq2vec(|x, m| enc.forward(x, m), 4);
}

#[test]
fn feed_forward() {
    let device = dev();
    let cfg: FeedForwardConfig = serde_json::from_str(
        r#"{"num_layers": 2, "hidden_dims": [5, 3], "activations": ["tanh", "linear"],
            "dropout": 0.1}"#,
    )
    .unwrap();
    let ff = cfg.init(4, &device).unwrap();
    assert_eq!(ff.output_dim(), 3);
    assert_eq!(cfg.output_dim(), 3);
    let x = randn([3, 4], &device);
    let out = ff.forward(x.clone());
    assert_eq!(out.dims(), [3, 3]);
    let row = ff.forward(x.slice_dim(0, 1..2));
    assert_close(&to_vec(out.slice_dim(0, 1..2)), &to_vec(row), 1e-6);
    // hand computed: one linear layer, weight 2, bias 1, relu
    let mut one = FeedForwardConfig {
        input_dim: Some(1),
        num_layers: 1,
        hidden_dims: OneOrMany::One(1),
        activations: OneOrMany::One(Activation::Relu),
        dropout: OneOrMany::One(0.0),
    }
    .init(1, &device)
    .unwrap();
    one.layers[0].weight =
        burn::module::Param::from_data(TensorData::new(vec![2f32], [1, 1]), &device);
    one.layers[0].bias = Some(burn::module::Param::from_data(
        TensorData::new(vec![1f32], [1]),
        &device,
    ));
    let x = Tensor::<2>::from_data(TensorData::new(vec![3f32, -4.], [2, 1]), &device);
    assert_eq!(to_vec(one.forward(x)), vec![7., 0.]);
}

#[test]
fn feed_forward_list_lengths_are_checked() {
    let cfg: FeedForwardConfig = serde_json::from_str(
        r#"{"num_layers": 2, "hidden_dims": [5, 3, 2], "activations": "relu"}"#,
    )
    .unwrap();
    let err = cfg.resolve(4).unwrap_err().to_string();
    assert!(
        err.contains("hidden_dims has 3 values but num_layers is 2"),
        "{err}"
    );
    let cfg: FeedForwardConfig = serde_json::from_str(
        r#"{"num_layers": 2, "hidden_dims": 3, "activations": ["relu"], "dropout": [0.1, 0.2]}"#,
    )
    .unwrap();
    assert!(
        cfg.resolve(4)
            .unwrap_err()
            .to_string()
            .contains("activations")
    );
    let cfg: FeedForwardConfig = serde_json::from_str(
        r#"{"input_dim": 5, "num_layers": 1, "hidden_dims": 3, "activations": "gelu"}"#,
    )
    .unwrap();
    assert!(cfg.resolve(4).is_err());
    assert!(
        serde_json::from_str::<FeedForwardConfig>(
            r#"{"num_layers": 1, "hidden_dims": 3, "activations": "swish"}"#
        )
        .is_err()
    );
}

fn char_encoder(json: &str, num_chars: usize) -> TokenCharactersEncoder {
    let cfg: TokenCharactersEncoderConfig = serde_json::from_str(json).unwrap();
    cfg.init(num_chars, &dev()).unwrap()
}

#[test]
fn character_encoder() {
    let device = dev();
    for json in [
        r#"{"embedding": {"embedding_dim": 4}, "encoder": {"cnn": {"num_filters": 3,
            "ngram_filter_sizes": [2, 3]}}}"#,
        r#"{"embedding": {"embedding_dim": 4}, "encoder": {"boe": {"averaged": true}}}"#,
    ] {
        let enc = char_encoder(json, 20);
        // [B=2, T=3, C=4]; token (0,2) and (1,1..) are padding tokens.
        let ids = vec![
            3i64, 4, 5, 0, /**/ 6, 0, 0, 0, /**/ 0, 0, 0, 0, //
            7, 8, 9, 10, /**/ 0, 0, 0, 0, /**/ 0, 0, 0, 0,
        ];
        let chars = Tensor::<3, Int>::from_data(TensorData::new(ids, [2, 3, 4]), &device);
        let out = enc.forward(chars.clone());
        let h = enc.output_dim();
        assert_eq!(out.dims(), [2, 3, h]);
        let v = to_vec(out.clone());
        assert!(v[2 * h..3 * h].iter().all(|x| *x == 0.0));
        assert!(v[4 * h..].iter().all(|x| *x == 0.0));
        // Token "3 4 5" alone, without character padding, gives the same vector.
        let alone =
            Tensor::<3, Int>::from_data(TensorData::new(vec![3i64, 4, 5], [1, 1, 3]), &device);
        assert_close(&v[..h], &to_vec(enc.forward(alone)), 1e-5);
        // Batch order.
        let swapped = Tensor::cat(
            vec![chars.clone().slice_dim(0, 1..2), chars.slice_dim(0, 0..1)],
            0,
        );
        let out2 = to_vec(enc.forward(swapped));
        assert_close(&out2[3 * h..], &v[..3 * h], 1e-5);
    }
}

#[test]
fn character_encoder_dim_mismatch_names_both() {
    let cfg: TokenCharactersEncoderConfig = serde_json::from_str(
        r#"{"embedding": {"embedding_dim": 4}, "encoder": {"cnn": {"embedding_dim": 5,
            "num_filters": 3}}}"#,
    )
    .unwrap();
    let err = cfg.init(10, &dev()).unwrap_err().to_string();
    assert_eq!(
        err,
        "character encoder input_dim 5 != character embedding output 4"
    );
}

#[test]
fn text_field_embedder() {
    let device = dev();
    let cfg: TextFieldEmbedderConfig = serde_json::from_str(
        r#"{"tokens": {"embedding": {"embedding_dim": 5}},
            "token_characters": {"character_encoding": {"embedding": {"embedding_dim": 3},
              "encoder": {"cnn": {"num_filters": 2, "ngram_filter_sizes": [2]}},
              "dropout": 0.1}}}"#,
    )
    .unwrap();
    assert_eq!(cfg.output_dim().unwrap(), 7);
    let emb = cfg.init((30, 12), &device).unwrap();
    assert_eq!(emb.output_dim(), 7);
    assert!(emb.uses_characters());
    let tokens = ints2(&[vec![4, 5, 0]], &device);
    let chars = Tensor::<3, Int>::from_data(
        TensorData::new(vec![2i64, 3, 4, 5, 0, 0, 0, 0, 0], [1, 3, 3]),
        &device,
    );
    let mask = crate::mask::ids_mask(tokens.clone());
    let out = emb.forward(tokens.clone(), Some(chars.clone()), mask.clone());
    assert_eq!(out.dims(), [1, 3, 7]);
    let v = to_vec(out.clone());
    assert!(v[14..].iter().all(|x| *x == 0.0));
    let words = to_vec(emb.tokens.as_ref().unwrap().forward(tokens.clone()));
    assert_eq!(&v[..5], &words[..5]);
    // Multi-field reshape = per-field embedding.
    let fields = emb.forward_fields(
        tokens.clone().reshape([1, 1, 3]).repeat_dim(1, 2),
        Some(chars.reshape([1, 1, 3, 3]).repeat_dim(1, 2)),
        mask.clone().reshape([1, 1, 3]).repeat_dim(1, 2),
    );
    assert_eq!(fields.dims(), [1, 2, 3, 7]);
    assert_close(&to_vec(fields.slice_dim(1, 1..2)), &v, 0.0);

    let only_words: TextFieldEmbedderConfig =
        serde_json::from_str(r#"{"tokens": {"embedding": {"embedding_dim": 5}}}"#).unwrap();
    let e = only_words.init((10, 0), &device).unwrap();
    assert_eq!(e.forward(tokens, None, mask).dims(), [1, 3, 5]);

    let err = TextFieldEmbedderConfig::default()
        .init((1, 1), &device)
        .unwrap_err();
    assert!(err.to_string().contains("at least one"), "{err}");
    let wrong: TextFieldEmbedderConfig =
        serde_json::from_str(r#"{"token_characters": {"embedding": {"embedding_dim": 5}}}"#)
            .unwrap();
    assert!(wrong.init((1, 1), &device).is_err());
    assert!(
        serde_json::from_str::<TextFieldEmbedderConfig>(
            r#"{"words": {"embedding": {"embedding_dim": 5}}}"#
        )
        .unwrap_err()
        .to_string()
        .contains("unknown field")
    );
}

#[test]
fn text_field_with_pretrained_vocab() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vectors.txt");
    std::fs::write(&path, "2 3\nhello 1 2 3\nworld 4 5 6\n").unwrap();
    let cfg: TextFieldEmbedderConfig = serde_json::from_str(&format!(
        r#"{{"tokens": {{"embedding": {{"embedding_dim": 3, "trainable": false,
            "pretrained_file": {:?}}}}}}}"#,
        path.to_str().unwrap()
    ))
    .unwrap();
    let vocab: Vec<String> = ["@@PADDING@@", "@@UNKNOWN@@", "world", "foo"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let (emb, reports) = cfg.init_with_vocab(&vocab, &[], 0, &dev()).unwrap();
    assert_eq!(reports.len(), 1);
    assert_eq!(
        (reports[0].found, reports[0].missing, reports[0].total),
        (1, 2, 3)
    );
    let ids = ints2(&[vec![2, 0]], &dev());
    let out = to_vec(emb.forward(ids.clone(), None, crate::mask::ids_mask(ids)));
    assert_eq!(out, vec![4., 5., 6., 0., 0., 0.]);
}

fn multifield(json: &str, d: usize) -> MultifieldEncoder {
    let cfg: MultifieldEncoderConfig = serde_json::from_str(json).unwrap();
    cfg.init(d, &dev()).unwrap()
}

const MF_CONFIGS: [&str; 3] = [
    r#"{"seq2vec_encoder": {"boe": {}}, "multifield_seq2vec_encoder": {"boe": {"averaged": true}}}"#,
    r#"{"seq2vec_encoder": {"cnn": {"num_filters": 3, "ngram_filter_sizes": [1, 2]}},
        "multifield_seq2vec_encoder": {"cnn": {"num_filters": 2, "ngram_filter_sizes": [1, 2],
        "output_dim": 4}}, "dropout": 0.1, "multifield_dropout": 0.1}"#,
    r#"{"seq2seq_encoder": {"pass_through": {}},
        "seq2vec_encoder": {"cnn": {"num_filters": 2, "ngram_filter_sizes": [2]}},
        "multifield_seq2seq_encoder": {"transformer": {"num_attention_heads": 1,
          "feedforward_hidden_dim": 4}},
        "multifield_seq2vec_encoder": {"boe": {}}}"#,
];

/// x `[F, T, D]` and field lengths -> one record.
fn record(fields: &[usize], t: usize, d: usize, device: &Device) -> (Tensor<4>, Tensor<3, Bool>) {
    let f = fields.len();
    let x = randn([1, f, t, d], device);
    let rows: Vec<Vec<bool>> = fields
        .iter()
        .map(|&l| (0..t).map(|i| i < l).collect())
        .collect();
    (x, mask2(&rows, device).reshape([1, f, t]))
}

#[test]
fn multifield_empty_field_between_real_ones_has_no_effect() {
    let device = dev();
    for json in MF_CONFIGS {
        let enc = multifield(json, 3);
        let (x, mask) = record(&[2, 0, 3], 4, 3, &device);
        let with_gap = enc.forward(x.clone(), mask.clone());
        let keep = Tensor::<1, Int>::from_data(TensorData::new(vec![0i64, 2], [2]), &device);
        let without = enc.forward(
            x.clone().select(1, keep.clone()),
            mask.clone().int().select(1, keep).bool(),
        );
        assert_close(&to_vec(with_gap.clone()), &to_vec(without), 1e-5);
        // Empty field first, and trailing empty field, too.
        let order = Tensor::<1, Int>::from_data(TensorData::new(vec![1i64, 0, 2], [3]), &device);
        let first = enc.forward(
            x.clone().select(1, order.clone()),
            mask.clone().int().select(1, order).bool(),
        );
        assert_close(&to_vec(first), &to_vec(with_gap.clone()), 1e-5);
        // All fields empty -> zeros.
        let (x0, m0) = record(&[0, 0], 4, 3, &device);
        assert!(to_vec(enc.forward(x0, m0)).iter().all(|v| *v == 0.0));
        // Token padding / field padding does not matter: pad T and F.
        let big =
            Tensor::<4>::zeros([1, 4, 6, 3], &device).slice_assign([0..1, 0..3, 0..4, 0..3], x);
        let big_mask = Tensor::<3, Int>::zeros([1, 4, 6], &device)
            .slice_assign([0..1, 0..3, 0..4], mask.int())
            .bool();
        assert_close(&to_vec(enc.forward(big, big_mask)), &to_vec(with_gap), 1e-5);
    }
}

#[test]
fn multifield_single_field_equals_sequence_encoder_stack() {
    let device = dev();
    for json in MF_CONFIGS {
        let enc = multifield(json, 3);
        let (x, mask) = record(&[3], 5, 3, &device);
        let out = enc.forward(x.clone(), mask.clone());
        let field = enc
            .tokens
            .forward(x.reshape([1, 5, 3]), mask.reshape([1, 5]));
        let h = field.dims()[1];
        let manual = enc
            .fields
            .forward(field.reshape([1, 1, h]), lengths_mask(&[1], 1, &device));
        assert_close(&to_vec(out), &to_vec(manual), 1e-5);
    }
}

#[test]
fn multifield_batch_equals_records_alone() {
    let device = dev();
    for json in MF_CONFIGS {
        let enc = multifield(json, 3);
        let layout: [&[usize]; 4] = [&[2, 0, 3], &[4, 4, 4], &[0, 1, 0], &[0, 0, 0]];
        let (xs, ms): (Vec<_>, Vec<_>) = layout
            .iter()
            .map(|fields| record(fields, 4, 3, &device))
            .unzip();
        let out = enc.forward(Tensor::cat(xs.clone(), 0), Tensor::cat(ms.clone(), 0));
        assert_eq!(out.dims()[0], 4);
        for (i, (x, m)) in xs.into_iter().zip(ms).enumerate() {
            let alone = enc.forward(x, m);
            assert_close(
                &to_vec(out.clone().slice_dim(0, i..i + 1)),
                &to_vec(alone),
                1e-5,
            );
        }
        // Field vectors of the B·F reshape equal each field encoded alone.
        let (x, m) = record(&[2, 3], 4, 3, &device);
        let (vectors, field_mask) = enc.encode_fields(x.clone(), m.clone());
        assert_eq!(
            field_mask.into_data().try_to_vec::<bool>().unwrap(),
            vec![true, true]
        );
        for f in 0..2 {
            let one = enc.tokens.forward(
                x.clone().slice_dim(1, f..f + 1).reshape([1, 4, 3]),
                m.clone().slice_dim(1, f..f + 1).reshape([1, 4]),
            );
            assert_close(
                &to_vec(vectors.clone().slice_dim(1, f..f + 1)),
                &to_vec(one),
                1e-6,
            );
        }
    }
}

#[test]
fn compact_fields_is_a_stable_prefix() {
    let device = dev();
    let x = Tensor::<3>::from_data(
        TensorData::new((1..=8).map(|v| v as f32).collect::<Vec<_>>(), [2, 4, 1]),
        &device,
    );
    let present = mask2(
        &[
            vec![false, true, false, true],
            vec![true, true, true, false],
        ],
        &device,
    );
    let (c, m) = multifield::compact_fields(x, present);
    assert_eq!(to_vec(c), vec![2., 4., 0., 0., 5., 6., 7., 0.]);
    assert_eq!(
        m.into_data().try_to_vec::<bool>().unwrap(),
        vec![true, true, false, false, true, true, true, false]
    );
}

#[test]
fn compact_fields_routes_each_gradient_to_its_source_field() {
    let device = ad_dev();
    let x = Tensor::<3>::from_data(
        TensorData::new((1..=8).map(|v| v as f32).collect::<Vec<_>>(), [2, 4, 1]),
        &device,
    )
    .require_grad();
    let present = mask2(
        &[
            vec![false, true, false, true],
            vec![true, true, true, false],
        ],
        &device,
    );
    let (c, _) = multifield::compact_fields(x.clone(), present);
    // Output slot d weighs d + 1 (row 0) and d + 5 (row 1): a present field's gradient is the
    // weight of the slot it moved to, an absent field's is zero (its slot is masked).
    let w = Tensor::<3>::from_data(
        TensorData::new(vec![1f32, 2., 3., 4., 5., 6., 7., 8.], [2, 4, 1]),
        &device,
    );
    let grads = (c * w).sum().backward();
    let g = to_vec(x.grad(&grads).unwrap());
    assert_eq!(g, vec![0., 1., 0., 2., 5., 6., 7., 0.]);
}

#[test]
fn dimension_errors_name_both_ends() {
    let cfg: SequenceEncoderConfig =
        serde_json::from_str(r#"{"seq2vec_encoder": {"boe": {"embedding_dim": 300}}}"#).unwrap();
    assert_eq!(
        cfg.resolve(316).unwrap_err().to_string(),
        "seq2vec_encoder input_dim 300 != text_field_embedder output 316"
    );
    let cfg: MultifieldEncoderConfig = serde_json::from_str(
        r#"{"seq2seq_encoder": {"lstm": {"input_size": 10, "hidden_size": 4}},
            "seq2vec_encoder": {"boe": {}},
            "multifield_seq2vec_encoder": {"boe": {}}}"#,
    )
    .unwrap();
    assert_eq!(
        cfg.resolve(12).unwrap_err().to_string(),
        "seq2seq_encoder input_dim 10 != text_field_embedder output 12"
    );
    let cfg: MultifieldEncoderConfig = serde_json::from_str(
        r#"{"seq2seq_encoder": {"gru": {"hidden_size": 4, "bidirectional": true}},
            "seq2vec_encoder": {"cnn": {"embedding_dim": 4, "num_filters": 2}},
            "multifield_seq2vec_encoder": {"boe": {}}}"#,
    )
    .unwrap();
    assert_eq!(
        cfg.resolve(12).unwrap_err().to_string(),
        "seq2vec_encoder input_dim 4 != seq2seq_encoder output 8"
    );
    let cfg: MultifieldEncoderConfig = serde_json::from_str(
        r#"{"seq2vec_encoder": {"lstm": {"hidden_size": 5, "bidirectional": true}},
            "multifield_seq2seq_encoder": {"pass_through": {"input_dim": 5}},
            "multifield_seq2vec_encoder": {"boe": {}}}"#,
    )
    .unwrap();
    assert_eq!(
        cfg.resolve(12).unwrap_err().to_string(),
        "multifield_seq2seq_encoder input_dim 5 != seq2vec_encoder output 10"
    );
    // Resolved dims (RNN configs are only resolved, never run, here).
    let cfg: MultifieldEncoderConfig = serde_json::from_str(
        r#"{"seq2seq_encoder": {"lstm": {"hidden_size": 3, "bidirectional": true}},
            "seq2vec_encoder": {"gru": {"hidden_size": 5, "num_layers": 2}},
            "multifield_seq2vec_encoder": {"lstm": {"hidden_size": 7}}}"#,
    )
    .unwrap();
    let r = cfg.resolve(12).unwrap();
    assert_eq!(r.seq2vec_encoder.input_dim(), Some(6));
    assert_eq!(r.multifield_seq2vec_encoder.input_dim(), Some(5));
    assert_eq!(cfg.output_dim(12).unwrap(), 7);
}

#[test]
fn configs_round_trip_and_reject_unknown_keys() {
    fn round<T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug>(
        json: &str,
    ) {
        let v: T = serde_json::from_str(json).unwrap();
        let back: T = serde_json::from_str(&serde_json::to_string(&v).unwrap()).unwrap();
        assert_eq!(v, back);
    }
    round::<Seq2VecEncoderConfig>(r#"{"boe": {"embedding_dim": 3, "averaged": true}}"#);
    round::<Seq2VecEncoderConfig>(r#"{"cnn": {"num_filters": 3}}"#);
    round::<Seq2VecEncoderConfig>(r#"{"lstm": {"hidden_size": 3, "bidirectional": true}}"#);
    round::<Seq2VecEncoderConfig>(r#"{"gru": {"input_size": 2, "hidden_size": 3}}"#);
    round::<Seq2SeqEncoderConfig>(r#"{"pass_through": {}}"#);
    round::<Seq2SeqEncoderConfig>(r#"{"lstm": {"hidden_size": 3, "num_layers": 2}}"#);
    round::<Seq2SeqEncoderConfig>(
        r#"{"transformer": {"num_attention_heads": 2, "feedforward_hidden_dim": 3}}"#,
    );
    round::<FeedForwardConfig>(
        r#"{"num_layers": 2, "hidden_dims": [3, 2], "activations": ["relu", "leaky_relu"],
            "dropout": [0.1, 0.0]}"#,
    );
    for json in MF_CONFIGS {
        round::<MultifieldEncoderConfig>(json);
    }
    round::<TokenCharactersEncoderConfig>(
        r#"{"embedding": {"embedding_dim": 16}, "encoder": {"cnn": {"num_filters": 3}}}"#,
    );

    let cnn: Seq2VecEncoderConfig = serde_json::from_str(r#"{"cnn": {"num_filters": 3}}"#).unwrap();
    let Seq2VecEncoderConfig::Cnn(c) = &cnn else {
        panic!()
    };
    assert_eq!(c.ngram_filter_sizes, vec![2, 3, 4, 5]);
    assert_eq!(c.conv_layer_activation, Activation::Relu);
    assert_eq!(cnn.output_dim(), 12);
    let lstm: Seq2VecEncoderConfig =
        serde_json::from_str(r#"{"lstm": {"hidden_size": 3, "bidirectional": true}}"#).unwrap();
    assert_eq!(lstm.output_dim(), 6);
    assert_eq!(lstm.resolve(4).unwrap().input_dim(), Some(4));

    for bad in [
        r#"{"cnn": {"num_filters": 3, "filters": 2}}"#,
        r#"{"boe": {"averaged": true, "x": 1}}"#,
        r#"{"lstm": {"hidden_size": 3, "cell": "x"}}"#,
        r#"{"bag": {}}"#,
    ] {
        assert!(
            serde_json::from_str::<Seq2VecEncoderConfig>(bad).is_err(),
            "{bad}"
        );
    }
    for bad in [
        r#"{"transformer": {"num_attention_heads": 2, "feedforward_hidden_dim": 3, "heads": 1}}"#,
        r#"{"pass_through": {"dim": 1}}"#,
    ] {
        assert!(
            serde_json::from_str::<Seq2SeqEncoderConfig>(bad).is_err(),
            "{bad}"
        );
    }
    assert!(
        serde_json::from_str::<MultifieldEncoderConfig>(
            r#"{"seq2vec_encoder": {"boe": {}}, "multifield_seq2vec_encoder": {"boe": {}},
                "multifield_dropuot": 0.1}"#
        )
        .is_err()
    );
    assert!(
        serde_json::from_str::<TokenCharactersEncoderConfig>(
            r#"{"embedding": {"embedding_dim": 16}, "encoder": {"boe": {}}, "extra": 1}"#
        )
        .is_err()
    );
}

#[test]
fn invalid_dropout_is_an_error_not_a_panic() {
    let cfg: SequenceEncoderConfig =
        serde_json::from_str(r#"{"seq2vec_encoder": {"boe": {}}, "dropout": 1.5}"#).unwrap();
    assert!(cfg.init(3, &dev()).is_err());
}

#[test]
fn encoders_pass_gradients() {
    let device = ad_dev();
    let enc = MultifieldEncoderConfig::new(
        serde_json::from_str(r#"{"cnn": {"num_filters": 2, "ngram_filter_sizes": [1, 2]}}"#)
            .unwrap(),
        serde_json::from_str(r#"{"boe": {}}"#).unwrap(),
    )
    .init(3, &device)
    .unwrap();
    let (x, mask) = record(&[2, 0, 1], 3, 3, &device);
    let x = x.require_grad();
    let grads = enc.forward(x.clone(), mask).sum().backward();
    let g = to_vec(x.grad(&grads).unwrap());
    assert!(g.iter().all(|v| v.is_finite()));
    let Seq2VecEncoder::Cnn(cnn) = &enc.tokens.seq2vec else {
        panic!()
    };
    assert!(cnn.convs[0].weight.val().grad(&grads).is_some());
}
