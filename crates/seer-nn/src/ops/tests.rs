//! Tests of the fused ops against finite differences and their composed forms.

use super::*;
use candle_core::{Device, Var};
use rand::SeedableRng;

fn randn(n: usize, seed: u64) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n).map(|_| rng.random::<f32>() * 4.0 - 2.0).collect()
}

/// Loss of the composed reference (log-softmax by hand, in f64).
fn reference_loss(x: &[f32], v: usize, targets: &[u32]) -> f64 {
    let mut total = 0.0;
    for (r, &t) in targets.iter().enumerate() {
        let row = &x[r * v..(r + 1) * v];
        let m = row.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
        let s: f64 = row.iter().map(|&z| (z as f64 - m).exp()).sum();
        total += m + s.ln() - row[t as usize] as f64;
    }
    total / targets.len() as f64
}

#[test]
fn fused_cross_entropy_matches_finite_differences() -> Result<()> {
    let (n, v) = (5, 7);
    let x = randn(n * v, 1);
    let targets = [0u32, 6, 3, 3, 1];
    let var = Var::from_vec(x.clone(), (n, v), &Device::Cpu)?;
    let loss = softmax_cross_entropy(var.as_tensor(), &targets)?;
    // Scale the loss so the backward pass sees a gradient other than 1.
    let loss3 = (loss.clone() * 3.0)?;
    assert!((super::super::scalar(&loss)? as f64 - reference_loss(&x, v, &targets)).abs() < 1e-5);
    let grads = loss3.backward()?;
    let g = grads
        .get(var.as_tensor())
        .expect("gradient")
        .flatten_all()?
        .to_vec1::<f32>()?;
    let h = 1e-3f32;
    for i in 0..n * v {
        let mut plus = x.clone();
        plus[i] += h;
        let mut minus = x.clone();
        minus[i] -= h;
        let fd = 3.0 * (reference_loss(&plus, v, &targets) - reference_loss(&minus, v, &targets))
            / (2.0 * h as f64);
        assert!(
            (fd - g[i] as f64).abs() < 1e-3,
            "entry {i}: finite difference {fd}, backward {}",
            g[i]
        );
    }
    Ok(())
}

#[test]
fn fused_cross_entropy_equals_the_composed_one() -> Result<()> {
    let (n, v) = (4, 9);
    let x = randn(n * v, 2);
    let targets = [8u32, 0, 4, 2];
    let t = Tensor::from_vec(x.clone(), (n, v), &Device::Cpu)?;
    let fused = super::super::scalar(&softmax_cross_entropy(&t, &targets)?)?;
    let logp = candle_nn::ops::log_softmax(&t, D::Minus1)?;
    let idx = Tensor::from_slice(&targets, (n, 1), &Device::Cpu)?;
    let reference = -(super::super::scalar(&logp.gather(&idx, 1)?.mean_all()?)?);
    assert!((fused - reference).abs() < 1e-5, "{fused} vs {reference}");
    // The GPU path, run here on the CPU: same loss and same gradient.
    let var = Var::from_vec(x, (n, v), &Device::Cpu)?;
    let (f, c) = (
        softmax_cross_entropy(&var, &targets)?,
        cross_entropy_composed(&var, &targets)?,
    );
    let (a, b) = (super::super::scalar(&f)?, super::super::scalar(&c)?);
    assert!((a - b).abs() < 1e-5, "{a} vs {b}");
    let (gf, gc) = (f.backward()?, c.backward()?);
    let (gf, gc) = (
        gf.get(var.as_tensor())
            .expect("fused grad")
            .flatten_all()?
            .to_vec1::<f32>()?,
        gc.get(var.as_tensor())
            .expect("composed grad")
            .flatten_all()?
            .to_vec1::<f32>()?,
    );
    assert!(
        gf.iter().any(|g| g.abs() > 1e-3),
        "the gradient is not zero"
    );
    for (p, q) in gf.iter().zip(&gc) {
        assert!((p - q).abs() < 1e-6, "{p} vs {q}");
    }
    Ok(())
}

#[test]
fn catalogue_cross_entropy_matches_the_composed_loss_and_gradients() -> Result<()> {
    // More rows than one block, so the parallel blocks and the reduction are exercised.
    let (n, h, v) = (300, 5, 11);
    let dev = Device::Cpu;
    let hid = Var::from_vec(randn(n * h, 4), (n, h), &dev)?;
    let tab = Var::from_vec(randn(v * h, 5), (v, h), &dev)?;
    let bias = Var::from_vec(randn(v, 6), v, &dev)?;
    let targets: Vec<u32> = (0..n as u32).map(|i| (i * 7) % v as u32).collect();
    // A 2 × the loss: the backward pass scales the forward pass's gradients.
    {
        let fused = catalogue_cross_entropy(&hid, &tab, &bias, &targets)?;
        // The GPU path, run here on the CPU.
        let composed = catalogue_cross_entropy_composed(&hid, &tab, &bias, &targets)?;
        let (a, b) = (
            super::super::scalar(&fused)?,
            super::super::scalar(&composed)?,
        );
        assert!((a - b).abs() < 1e-4, "{a} vs {b}");
        let (ga, gb) = ((fused * 2.0)?.backward()?, (composed * 2.0)?.backward()?);
        for t in [hid.as_tensor(), tab.as_tensor(), bias.as_tensor()] {
            let x = ga
                .get(t)
                .expect("fused grad")
                .flatten_all()?
                .to_vec1::<f32>()?;
            let y = gb
                .get(t)
                .expect("composed grad")
                .flatten_all()?
                .to_vec1::<f32>()?;
            for (p, q) in x.iter().zip(&y) {
                assert!((p - q).abs() < 1e-5, "{p} vs {q}");
            }
        }
    }
    Ok(())
}

#[test]
fn fast_exp_is_accurate() {
    let mut worst = 0.0f64;
    let mut x = -87.0f32;
    while x < 88.0 {
        let (a, b) = (fast_exp(x) as f64, (x as f64).exp());
        worst = worst.max(((a - b) / b).abs());
        x += 0.0137;
    }
    assert!(worst < 3e-7, "relative error {worst}");
    assert!(fast_exp(-1e9) < 1e-37);
    assert_eq!(
        row_max(&[1.0, 5.0, -2.0, 3.0, 0.0, 4.9, 1.0, 2.0, 7.5, 0.0]),
        7.5
    );
    let mut row = [0.5f32, -1.0, 2.0, 0.0, 1.0, 3.0, -2.0, 0.25, 1.5];
    let want: f32 = row.iter().map(|&z| (z - 3.0f32).exp()).sum();
    let mut out = [(0.0, 0.0, 0.0)];
    exp_rows(&mut row, 9, &[2], &mut out);
    assert!((out[0].0 - (3.0 + want.ln())).abs() < 1e-6);
    assert!((out[0].1 - 1.0 / want).abs() < 1e-6);
    assert_eq!(out[0].2, 2.0);
    assert!((row[0] - (0.5f32 - 3.0).exp()).abs() < 1e-7);
}

#[test]
fn bad_targets_are_errors() -> Result<()> {
    let t = Tensor::zeros((2, 3), candle_core::DType::F32, &Device::Cpu)?;
    assert!(softmax_cross_entropy(&t, &[0]).is_err());
    assert!(softmax_cross_entropy(&t, &[0, 3]).is_err());
    Ok(())
}

#[test]
fn softmax_and_layer_norm_have_gradients() -> Result<()> {
    let x = Var::from_vec(randn(12, 3), (3, 4), &Device::Cpu)?;
    let w = Tensor::from_vec(randn(12, 4), (3, 4), &Device::Cpu)?;
    let s = softmax_last_dim(x.as_tensor())?;
    let sums = s.sum(D::Minus1)?.to_vec1::<f32>()?;
    assert!(sums.iter().all(|&v| (v - 1.0).abs() < 1e-5));
    let g = (s * &w)?.sum_all()?.backward()?;
    let gx = g.get(x.as_tensor()).expect("grad").abs()?.sum_all()?;
    assert!(super::super::scalar(&gx)? > 0.0);

    let gamma = Var::from_vec(vec![1.5f32; 4], 4, &Device::Cpu)?;
    let beta = Var::from_vec(vec![0.1f32; 4], 4, &Device::Cpu)?;
    let y = layer_norm(x.as_tensor(), gamma.as_tensor(), &beta, 1e-5)?;
    let row = y.get(0)?.to_vec1::<f32>()?;
    let mean: f32 = row.iter().sum::<f32>() / 4.0;
    assert!((mean - 0.1).abs() < 1e-4);
    let g = (y * &w)?.sum_all()?.backward()?;
    for t in [x.as_tensor(), gamma.as_tensor(), beta.as_tensor()] {
        let n = super::super::scalar(&g.get(t).expect("grad").abs()?.sum_all()?)?;
        assert!(n > 0.0);
    }
    Ok(())
}

/// The fused softmax and layer norm equal the composed ones, forward and backward, and
/// their gradients match finite differences.
#[test]
fn fused_softmax_and_layer_norm_match_composed_and_finite_differences() -> Result<()> {
    let dev = Device::Cpu;
    // More rows than one parallel task, and a row with a large spread.
    let (n, d) = (150, 6);
    let mut xv = randn(n * d, 11);
    xv[7] = 30.0;
    let x = Var::from_vec(xv.clone(), (n / 3, 3, d), &dev)?;
    let w = Tensor::from_vec(randn(n * d, 12), (n / 3, 3, d), &dev)?;
    let gamma = Var::from_vec(randn(d, 13), d, &dev)?;
    let beta = Var::from_vec(randn(d, 14), d, &dev)?;
    let close = |a: &Tensor, b: &Tensor, tol: f32| -> Result<()> {
        let (a, b) = (
            a.flatten_all()?.to_vec1::<f32>()?,
            b.flatten_all()?.to_vec1::<f32>()?,
        );
        assert_eq!(a.len(), b.len());
        for (p, q) in a.iter().zip(&b) {
            assert!((p - q).abs() <= tol * (1.0 + q.abs()), "{p} vs {q}");
        }
        Ok(())
    };
    // Softmax.
    let (f, c) = (
        softmax_last_dim(x.as_tensor())?,
        softmax_composed(x.as_tensor())?,
    );
    close(&f, &c, 1e-6)?;
    let gf = (f * &w)?.sum_all()?.backward()?;
    let gc = (c * &w)?.sum_all()?.backward()?;
    close(
        gf.get(x.as_tensor()).expect("grad"),
        gc.get(x.as_tensor()).expect("grad"),
        1e-5,
    )?;
    // Layer norm: all three gradients.
    let (f, c) = (
        layer_norm(x.as_tensor(), gamma.as_tensor(), beta.as_tensor(), 1e-5)?,
        layer_norm_composed(x.as_tensor(), gamma.as_tensor(), beta.as_tensor(), 1e-5)?,
    );
    close(&f, &c, 1e-5)?;
    let gf = (f * &w)?.sum_all()?.backward()?;
    let gc = (c * &w)?.sum_all()?.backward()?;
    for t in [x.as_tensor(), gamma.as_tensor(), beta.as_tensor()] {
        close(gf.get(t).expect("grad"), gc.get(t).expect("grad"), 1e-4)?;
    }
    // Finite differences of the fused layer norm in f64 through the input, on a few
    // entries (central differences, step 1e-2 on f32 values).
    let loss = |v: &[f32]| -> Result<f64> {
        let t = Tensor::from_vec(v.to_vec(), (n / 3, 3, d), &dev)?;
        let y = layer_norm(&t, gamma.as_tensor(), beta.as_tensor(), 1e-5)?;
        Ok(super::super::scalar(&(y * &w)?.sum_all()?)? as f64)
    };
    let g = gf
        .get(x.as_tensor())
        .expect("grad")
        .flatten_all()?
        .to_vec1::<f32>()?;
    for i in [0, 5, 7, 100, 899] {
        let (mut p, mut m) = (xv.clone(), xv.clone());
        p[i] += 1e-2;
        m[i] -= 1e-2;
        let fd = (loss(&p)? - loss(&m)?) / 2e-2;
        assert!(
            (fd - g[i] as f64).abs() < 2e-2 * (1.0 + fd.abs()),
            "{i}: {fd} vs {}",
            g[i]
        );
    }
    Ok(())
}

/// The fused attention equals the composed one (with and without dropout, several heads,
/// a causal-and-padding mask), forward and backward, and its gradients match finite
/// differences.
#[test]
fn fused_attention_matches_composed_and_finite_differences() -> Result<()> {
    let dev = Device::Cpu;
    let (b, heads, l, d) = (3, 2, 5, 4);
    let n = b * heads * l * d;
    let mk = |seed| Var::from_vec(randn(n, seed), (b, heads, l, d), &dev);
    let (q, k, v) = (mk(21)?, mk(22)?, mk(23)?);
    let w = Tensor::from_vec(randn(n, 24), (b, heads, l, d), &dev)?;
    let lens = [5usize, 3, 1];
    let mask = Tensor::from_vec(
        crate::transformer::attention_mask(&lens, l, true),
        (b, 1, l, l),
        &dev,
    )?;
    let flat = |t: &Tensor| -> Result<Vec<f32>> { Ok(t.flatten_all()?.to_vec1::<f32>()?) };
    for p_drop in [0.0f32, 0.3] {
        let run = |fused: bool| -> Result<(Vec<f32>, Vec<Vec<f32>>)> {
            let mut rng = ChaCha8Rng::seed_from_u64(5);
            let y = if fused {
                attention(
                    q.as_tensor(),
                    k.as_tensor(),
                    v.as_tensor(),
                    &mask,
                    p_drop,
                    Some(&mut rng),
                )?
            } else {
                let keep =
                    (p_drop > 0.0).then(|| dropout_mask(b * heads * l * l, p_drop, &mut rng));
                let scale = 1.0 / (d as f64).sqrt();
                attention_composed(
                    q.as_tensor(),
                    k.as_tensor(),
                    v.as_tensor(),
                    &mask,
                    scale,
                    keep,
                )?
            };
            let g = (&y * &w)?.sum_all()?.backward()?;
            let grads = [&q, &k, &v]
                .iter()
                .map(|t| flat(g.get(t.as_tensor()).expect("grad")))
                .collect::<Result<Vec<_>>>()?;
            Ok((flat(&y)?, grads))
        };
        let (yf, gf) = run(true)?;
        let (yc, gc) = run(false)?;
        for (a, c) in std::iter::once((&yf, &yc)).chain(gf.iter().zip(&gc)) {
            for (x, y) in a.iter().zip(c) {
                assert!(
                    (x - y).abs() <= 1e-4 * (1.0 + y.abs()),
                    "p {p_drop}: {x} vs {y}"
                );
            }
        }
        assert!(gf.iter().all(|g| g.iter().any(|&x| x != 0.0)));
    }
    // Finite differences through q, k and v (no dropout).
    let loss = |qv: &[f32], kv: &[f32], vv: &[f32]| -> Result<f64> {
        let t = |x: &[f32]| Tensor::from_vec(x.to_vec(), (b, heads, l, d), &dev);
        let y = attention(&t(qv)?, &t(kv)?, &t(vv)?, &mask, 0.0, None)?;
        Ok(super::super::scalar(&(y * &w)?.sum_all()?)? as f64)
    };
    let y = attention(
        q.as_tensor(),
        k.as_tensor(),
        v.as_tensor(),
        &mask,
        0.0,
        None,
    )?;
    let g = (y * &w)?.sum_all()?.backward()?;
    let base = [
        flat(q.as_tensor())?,
        flat(k.as_tensor())?,
        flat(v.as_tensor())?,
    ];
    for (which, t) in [&q, &k, &v].iter().enumerate() {
        let gt = flat(g.get(t.as_tensor()).expect("grad"))?;
        for i in [0, 7, 33, 61, n - 1] {
            let mut args = [base[0].clone(), base[1].clone(), base[2].clone()];
            args[which][i] += 1e-2;
            let up = loss(&args[0], &args[1], &args[2])?;
            args[which][i] -= 2e-2;
            let down = loss(&args[0], &args[1], &args[2])?;
            let fd = (up - down) / 2e-2;
            assert!(
                (fd - gt[i] as f64).abs() < 2e-2 * (1.0 + fd.abs()),
                "input {which}, {i}: {fd} vs {}",
                gt[i]
            );
        }
    }
    Ok(())
}

/// The fused linear layer equals the composed one, forward and all three gradients, over
/// more rows than one thread's run, and matches finite differences.
#[test]
fn fused_linear_matches_composed_and_finite_differences() -> Result<()> {
    let dev = Device::Cpu;
    let (n, i, o) = (37, 5, 3);
    let x = Var::from_vec(randn(n * i, 31), (n, i), &dev)?;
    let w = Var::from_vec(randn(i * o, 32), (i, o), &dev)?;
    let b = Var::from_vec(randn(o, 33), o, &dev)?;
    let m = Tensor::from_vec(randn(n * o, 34), (n, o), &dev)?;
    let flat = |t: &Tensor| -> Result<Vec<f32>> { Ok(t.flatten_all()?.to_vec1::<f32>()?) };
    let yf = linear(x.as_tensor(), w.as_tensor(), b.as_tensor())?;
    let yc = x
        .as_tensor()
        .matmul(w.as_tensor())?
        .broadcast_add(b.as_tensor())?;
    let gf = (&yf * &m)?.sum_all()?.backward()?;
    let gc = (&yc * &m)?.sum_all()?.backward()?;
    let mut pairs = vec![(flat(&yf)?, flat(&yc)?)];
    for t in [&x, &w, &b] {
        pairs.push((
            flat(gf.get(t.as_tensor()).expect("grad"))?,
            flat(gc.get(t.as_tensor()).expect("grad"))?,
        ));
    }
    for (a, c) in &pairs {
        assert_eq!(a.len(), c.len());
        for (p, q) in a.iter().zip(c) {
            assert!((p - q).abs() <= 1e-4 * (1.0 + q.abs()), "{p} vs {q}");
        }
    }
    // Finite differences through w (the gradient that sums over all rows).
    let base = flat(w.as_tensor())?;
    let gw = &pairs[2].0;
    let loss = |wv: &[f32]| -> Result<f64> {
        let wt = Tensor::from_vec(wv.to_vec(), (i, o), &dev)?;
        let y = linear(x.as_tensor(), &wt, b.as_tensor())?;
        Ok(super::super::scalar(&(y * &m)?.sum_all()?)? as f64)
    };
    for k in [0, 4, 14] {
        let (mut up, mut down) = (base.clone(), base.clone());
        up[k] += 1e-2;
        down[k] -= 1e-2;
        let fd = (loss(&up)? - loss(&down)?) / 2e-2;
        assert!(
            (fd - gw[k] as f64).abs() < 2e-2 * (1.0 + fd.abs()),
            "{k}: {fd} vs {}",
            gw[k]
        );
    }
    Ok(())
}

#[test]
fn dropout_is_seeded_and_scales() -> Result<()> {
    let x = Tensor::ones(10_000, candle_core::DType::F32, &Device::Cpu)?;
    let a = dropout(&x, 0.3, &mut ChaCha8Rng::seed_from_u64(7))?.to_vec1::<f32>()?;
    let b = dropout(&x, 0.3, &mut ChaCha8Rng::seed_from_u64(7))?.to_vec1::<f32>()?;
    assert_eq!(a, b);
    let zeros = a.iter().filter(|&&v| v == 0.0).count() as f64 / a.len() as f64;
    assert!((zeros - 0.3).abs() < 0.02, "dropped {zeros}");
    let mean: f32 = a.iter().sum::<f32>() / a.len() as f32;
    assert!((mean - 1.0).abs() < 0.03);
    Ok(())
}
