//! A streaming windowed-sinc (polyphase) resampler for interleaved 16-bit audio.
//!
//! Written here instead of using `rubato` to keep the pipeline's streaming, any-length-chunk
//! interface simple. Each output sample is a Blackman-windowed sinc interpolation over
//! `2 * half_taps` input samples, with the cutoff at 0.9 of the lower Nyquist frequency (so it
//! also low-passes when downsampling); the kernel is tabulated in 256 phases. The total output
//! length is exactly `floor(input_frames * out_rate / in_rate)` after [`Resampler::finish`].

use std::f64::consts::PI;

const PHASES: usize = 256;

/// Resamples interleaved audio from `in_rate` to `out_rate`.
#[derive(Debug)]
pub struct Resampler {
    in_rate: u64,
    out_rate: u64,
    channels: usize,
    half_taps: usize,
    /// `PHASES + 1` rows of `2 * half_taps` coefficients.
    table: Vec<f32>,
    /// Per channel, input samples from absolute index `history_start` on.
    history: Vec<Vec<f32>>,
    history_start: u64,
    input_frames: u64,
    output_frames: u64,
}

fn sinc(x: f64) -> f64 {
    if x.abs() < 1e-12 {
        1.0
    } else {
        (PI * x).sin() / (PI * x)
    }
}

impl Resampler {
    /// A resampler for `channels` interleaved channels. Rates must be non-zero.
    pub fn new(in_rate: u32, out_rate: u32, channels: usize) -> Self {
        let in_rate = u64::from(in_rate.max(1));
        let out_rate = u64::from(out_rate.max(1));
        let ratio = out_rate as f64 / in_rate as f64;
        // Cutoff relative to the input Nyquist frequency.
        let cutoff = 0.9 * ratio.min(1.0);
        let half_taps = (12.0 / ratio.min(1.0)).ceil() as usize;
        let taps = 2 * half_taps;
        let mut table = Vec::with_capacity((PHASES + 1) * taps);
        for phase in 0..=PHASES {
            let frac = phase as f64 / PHASES as f64;
            let mut row: Vec<f64> = (0..taps)
                .map(|j| {
                    // Input sample at offset (j - half_taps + 1) from the floor index.
                    let x = j as f64 - half_taps as f64 + 1.0 - frac;
                    let w = {
                        let n = (x + half_taps as f64) / (2.0 * half_taps as f64);
                        if (0.0..=1.0).contains(&n) {
                            0.42 - 0.5 * (2.0 * PI * n).cos() + 0.08 * (4.0 * PI * n).cos()
                        } else {
                            0.0
                        }
                    };
                    cutoff * sinc(cutoff * x) * w
                })
                .collect();
            // Normalise for unity gain at DC.
            let sum: f64 = row.iter().sum();
            if sum.abs() > 1e-9 {
                row.iter_mut().for_each(|c| *c /= sum);
            }
            table.extend(row.into_iter().map(|c| c as f32));
        }
        Resampler {
            in_rate,
            out_rate,
            channels: channels.max(1),
            half_taps,
            table,
            history: vec![Vec::new(); channels.max(1)],
            history_start: 0,
            input_frames: 0,
            output_frames: 0,
        }
    }

    /// Feeds interleaved `input`; appends the interleaved output that is ready to `out`.
    pub fn process(&mut self, input: &[i16], out: &mut Vec<i16>) {
        for frame in input.chunks_exact(self.channels) {
            for (ch, &s) in frame.iter().enumerate() {
                if let Some(h) = self.history.get_mut(ch) {
                    h.push(f32::from(s));
                }
            }
            self.input_frames += 1;
        }
        self.produce(self.input_frames, out);
    }

    /// Flushes: produces the remaining output (treating input past the end as silence).
    pub fn finish(&mut self, out: &mut Vec<i16>) {
        let total = self.input_frames * self.out_rate / self.in_rate;
        while self.output_frames < total {
            self.emit_one(out);
        }
    }

    /// Produces outputs whose whole kernel lies within the first `available` input frames.
    fn produce(&mut self, available: u64, out: &mut Vec<i16>) {
        loop {
            let t = self.output_frames * self.in_rate;
            let floor = t / self.out_rate;
            if floor + self.half_taps as u64 >= available {
                break;
            }
            self.emit_one(out);
        }
        // Drop history no later output needs.
        let next_floor = self.output_frames * self.in_rate / self.out_rate;
        let keep_from = next_floor.saturating_sub(self.half_taps as u64);
        if keep_from > self.history_start {
            let drop = (keep_from - self.history_start) as usize;
            for h in &mut self.history {
                let d = drop.min(h.len());
                h.drain(..d);
            }
            self.history_start += drop as u64;
        }
    }

    fn emit_one(&mut self, out: &mut Vec<i16>) {
        let t = self.output_frames * self.in_rate;
        let floor = t / self.out_rate;
        let rem = t % self.out_rate;
        let phase = ((rem * PHASES as u64 + self.out_rate / 2) / self.out_rate) as usize;
        let taps = 2 * self.half_taps;
        let row = self
            .table
            .get(phase * taps..(phase + 1) * taps)
            .unwrap_or(&[]);
        for h in &self.history {
            let mut acc = 0.0f32;
            for (j, &c) in row.iter().enumerate() {
                // Absolute input index floor - half_taps + 1 + j.
                let index = (floor + 1 + j as u64).checked_sub(self.half_taps as u64);
                let sample = index
                    .and_then(|i| i.checked_sub(self.history_start))
                    .and_then(|i| h.get(i as usize))
                    .copied()
                    .unwrap_or(0.0);
                acc += c * sample;
            }
            out.push(acc.round().clamp(-32768.0, 32767.0) as i16);
        }
        self.output_frames += 1;
    }
}
