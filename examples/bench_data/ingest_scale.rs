//! `bench_ingest --scale A,B,…` (issue [14], acceptance 2): one file (its existing people among the
//! first A, its new people numbered past the largest size) ingested by the product into Postgres
//! prefilled with each size, `--repeat` runs of each, interleaved, each into a fresh copy; the
//! median at each size against the median at the first, budget [`SCALE_RATIO_MAX`].
use super::*;

/// Runs the sizes; whether each is within budget.
pub async fn run(b: &Bench, sizes: &[u64]) -> anyhow::Result<bool> {
    let (Some(&least), Some(&most)) = (sizes.iter().min(), sizes.iter().max()) else {
        anyhow::bail!("--scale takes sizes such as 1000000,5000000");
    };
    anyhow::ensure!(
        sizes.len() >= 2 && least > 0,
        "--scale takes two sizes or more, such as 1000000,5000000"
    );
    anyhow::ensure!(
        most + b.rows < 10_000_000,
        "the largest size plus --rows must stay below 10,000,000 (the generated mobiles are \
         distinct below)"
    );
    let mut templates = Vec::new();
    for &size in sizes {
        templates.push(postgres_prefilled(b, size).await?);
    }
    let file = write_file(b, "scale.xlsx", &file_rows(b.rows, least, most))?;
    let run = b.name("run");
    let mut walls: Vec<Vec<f64>> = vec![Vec::new(); sizes.len()];
    let mut peaks = vec![0u64; sizes.len()];
    for n in 1..=b.repeat {
        for (k, (size, template)) in sizes.iter().zip(&templates).enumerate() {
            b.fresh_copy(&run, template).await?;
            let out = b.work.join(format!("scale-{size}-{n}.out"));
            let (wall, rss) = ingest(&b.bin, &b.url(&run), &file, &out)?;
            println!(
                "run {n}/{}: Postgres prefilled with {size}: agency-portal ingest {:.3}s wall, peak RSS {:.1} MB; {}",
                b.repeat,
                wall.as_secs_f64(),
                mb(rss),
                counts_line(&out)
            );
            walls[k].push(wall.as_secs_f64());
            peaks[k] = peaks[k].max(rss);
        }
    }
    b.drop_db(&run).await?;
    if !b.keep {
        for template in &templates {
            b.drop_db(template).await?;
        }
    }
    let medians: Vec<f64> = walls.into_iter().map(median).collect();
    let mut ok = true;
    for k in 1..sizes.len() {
        let ratio = medians[k] / medians[0];
        ok &= ratio <= SCALE_RATIO_MAX;
        println!(
            "[14].2 Postgres ingest into {}: {:.3}s (peak RSS {:.1} MB), {ratio:.2}x the {:.3}s into {} (medians of {}); budget at most {SCALE_RATIO_MAX}x: {}",
            sizes[k],
            medians[k],
            mb(peaks[k]),
            medians[0],
            sizes[0],
            b.repeat,
            verdict(ratio <= SCALE_RATIO_MAX)
        );
    }
    Ok(ok)
}
