//! The owner digest's chart (SPEC §8): new candidates per day per agency over the last 14 days, as a
//! PNG drawn with plotters into a pixel buffer. Text uses DejaVu Sans embedded in the binary (the
//! `dejavu` crate; the DejaVu fonts' licence allows redistribution) through plotters' `ab_glyph`
//! feature, so drawing needs no fontconfig or any other system library.

use std::sync::Once;

use chrono::NaiveDate;
use plotters::prelude::*;
use plotters::style::FontStyle;

/// The chart's size in pixels.
pub const WIDTH: u32 = 800;
pub const HEIGHT: u32 = 400;

const FONT: &str = "sans-serif";

#[derive(Debug, thiserror::Error)]
#[error("cannot draw the chart: {0}")]
pub struct ChartError(String);

/// One line of the chart: an agency and its count per day (one value per day).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Series {
    pub label: String,
    pub values: Vec<u32>,
}

fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        for style in [FontStyle::Normal, FontStyle::Bold] {
            if plotters::style::register_font(FONT, style, dejavu::sans::regular()).is_err() {
                tracing::error!(
                    "the embedded DejaVu Sans font does not load; chart text is missing"
                );
            }
        }
    });
}

fn err(e: impl std::fmt::Display) -> ChartError {
    ChartError(e.to_string())
}

/// The PNG (RGB, [`WIDTH`] × [`HEIGHT`]) of one line per series over `days` (the x axis, oldest
/// first). Every series has one value per day.
pub fn new_per_day_png(
    title: &str,
    days: &[NaiveDate],
    series: &[Series],
) -> Result<Vec<u8>, ChartError> {
    register_font();
    let mut pixels = vec![255u8; (WIDTH * HEIGHT * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut pixels, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let n = days.len().max(1) as i32;
        let max = series
            .iter()
            .flat_map(|s| s.values.iter().copied())
            .max()
            .unwrap_or(0)
            .max(1);
        let top = max + max.div_ceil(10);
        let mut chart = ChartBuilder::on(&root)
            .caption(title, (FONT, 20))
            .margin(12)
            .margin_right(30)
            .x_label_area_size(32)
            .y_label_area_size(44)
            .build_cartesian_2d(0..(n - 1).max(1), 0u32..top)
            .map_err(err)?;
        let label = |i: &i32| {
            usize::try_from(*i)
                .ok()
                .and_then(|i| days.get(i))
                .map(|d| d.format("%d %b").to_string())
                .unwrap_or_default()
        };
        chart
            .configure_mesh()
            .x_labels(days.len().clamp(2, 14))
            .x_label_formatter(&label)
            .y_labels(6)
            .y_desc("new candidates")
            .label_style((FONT, 12))
            .draw()
            .map_err(err)?;
        for (i, s) in series.iter().enumerate() {
            let color = Palette99::pick(i).to_rgba();
            chart
                .draw_series(LineSeries::new(
                    s.values.iter().enumerate().map(|(d, v)| (d as i32, *v)),
                    color.stroke_width(2),
                ))
                .map_err(err)?
                .label(s.label.clone())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
                });
            chart
                .draw_series(
                    s.values
                        .iter()
                        .enumerate()
                        .map(|(d, v)| Circle::new((d as i32, *v), 3, color.filled())),
                )
                .map_err(err)?;
        }
        if series.is_empty() {
            root.draw(&Text::new(
                "no new candidates in these days",
                ((WIDTH / 2 - 120) as i32, (HEIGHT / 2) as i32),
                (FONT, 16),
            ))
            .map_err(err)?;
        } else {
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::UpperLeft)
                .label_font((FONT, 12))
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK.mix(0.4))
                .draw()
                .map_err(err)?;
        }
        root.present().map_err(err)?;
    }
    encode_png(&pixels, WIDTH, HEIGHT)
}

fn encode_png(rgb: &[u8], width: u32, height: u32) -> Result<Vec<u8>, ChartError> {
    let mut out = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut out, width, height);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header().map_err(err)?;
        writer.write_image_data(rgb).map_err(err)?;
        writer.finish().map_err(err)?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn days() -> Vec<NaiveDate> {
        let first = NaiveDate::from_ymd_opt(2026, 11, 17).unwrap();
        (0..14).map(|i| first + chrono::Duration::days(i)).collect()
    }

    fn decode(png_bytes: &[u8]) -> (u32, u32, Vec<u8>) {
        let decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
        let mut reader = decoder.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size()];
        let info = reader.next_frame(&mut buf).unwrap();
        buf.truncate(info.buffer_size());
        (info.width, info.height, buf)
    }

    #[test]
    fn draws_lines_and_text_into_a_png_of_the_right_size() {
        let series = vec![
            Series {
                label: "Acme Staffing".into(),
                values: vec![0, 1, 3, 2, 0, 0, 5, 4, 1, 0, 0, 2, 7, 3],
            },
            Series {
                label: "Talento Azteca".into(),
                values: vec![1; 14],
            },
        ];
        let png_bytes = new_per_day_png("New candidates per day", &days(), &series).unwrap();
        let (w, h, pixels) = decode(&png_bytes);
        assert_eq!((w, h), (WIDTH, HEIGHT));
        // Something besides the white background was drawn: lines, labels, the legend.
        let non_white = pixels.chunks(3).filter(|p| p != &[255, 255, 255]).count();
        assert!(non_white > 2_000, "{non_white} non-white pixels");
    }

    #[test]
    fn an_empty_chart_still_draws() {
        let png_bytes = new_per_day_png("New candidates per day", &days(), &[]).unwrap();
        assert_eq!(decode(&png_bytes).0, WIDTH);
    }
}
