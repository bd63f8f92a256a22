//! The template agencies fill in, in their language (SPEC §7 (r2)): a candidates sheet with the
//! headers (Mobile and Campaign formatted as text so Excel keeps leading zeros and long numbers) and
//! a notes sheet with what to write and an example row (kept off the first sheet so it is never
//! submitted as a candidate). Its words are the catalogue's `[template]` texts; its headers are
//! ones the portal's own header detection recognises, in every language.

use rust_xlsxwriter::{Format, FormatAlign, Workbook, XlsxError};

use crate::i18n::Catalogue;

/// The header keys of the candidates sheet, in column order.
const HEADERS: [&str; 5] = [
    "template.first_name",
    "template.last_name",
    "template.email",
    "template.mobile",
    "template.campaign",
];

/// The notes: (label key, text key); the first five label the columns.
const NOTES: [(&str, &str); 7] = [
    ("template.first_name", "template.first_name_note"),
    ("template.last_name", "template.last_name_note"),
    ("template.email", "template.email_note"),
    ("template.mobile", "template.mobile_note"),
    ("template.campaign", "template.campaign_note"),
    ("template.other", "template.other_note"),
    ("template.one_row", "template.one_row_note"),
];

const EXAMPLE: [&str; 4] = [
    "template.example_first_name",
    "template.example_last_name",
    "template.example_email",
    "template.example_mobile",
];

/// The template workbook worded by `c`.
pub fn template_workbook(c: &Catalogue) -> Vec<u8> {
    build(c).expect("the template workbook is fixed content and always builds")
}

/// The header texts of the candidates sheet in `c`'s language.
pub fn headers(c: &Catalogue) -> [&str; 5] {
    HEADERS.map(|k| c.text(k))
}

fn build(c: &Catalogue) -> Result<Vec<u8>, XlsxError> {
    let bold = Format::new().set_bold();
    let text = Format::new().set_num_format("@");
    let mut wb = Workbook::new();
    let ws = wb.add_worksheet();
    ws.set_name(c.text("template.sheet"))?;
    for (col, h) in headers(c).iter().enumerate() {
        let col = col as u16;
        ws.write_string_with_format(0, col, *h, &bold)?;
        ws.set_column_width(col, 18)?;
    }
    ws.set_freeze_panes(1, 0)?;
    // The header row filters, as on every sheet we write.
    ws.autofilter(0, 0, 0, headers(c).len() as u16 - 1)?;
    ws.set_column_width(2, 32)?;
    ws.set_column_format(3, &text)?;
    ws.set_column_format(4, &text)?;

    let notes = wb.add_worksheet();
    notes.set_name(c.text("template.notes_sheet"))?;
    let wrap = Format::new().set_text_wrap().set_align(FormatAlign::Top);
    notes.set_column_width(0, 22)?;
    notes.set_column_width(1, 90)?;
    notes.write_string_with_format(0, 0, c.text("template.column"), &bold)?;
    notes.write_string_with_format(0, 1, c.text("template.what"), &bold)?;
    for (i, (label, what)) in NOTES.iter().enumerate() {
        let row = i as u32 + 1;
        notes.write_string_with_format(row, 0, c.text(label), &bold)?;
        notes.write_string_with_format(row, 1, c.text(what), &wrap)?;
    }
    let example_row = NOTES.len() as u32 + 2;
    notes.write_string_with_format(example_row, 0, c.text("template.example"), &bold)?;
    let example = EXAMPLE.map(|k| c.text(k));
    for (col, (h, v)) in headers(c)
        .iter()
        .zip(example.iter().chain(&["40123"]))
        .enumerate()
    {
        let col = col as u16;
        notes.write_string_with_format(example_row + 1, col, *h, &bold)?;
        notes.write_string(example_row + 2, col, *v)?;
    }
    wb.save_to_buffer()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::i18n::Lang;
    use calamine::{Data, Reader, Xlsx};

    /// Each language's template maps with the portal's own header detection, and its example row
    /// (on the notes sheet) is a valid row of the agency's country.
    #[test]
    fn every_language_template_maps_with_our_own_header_detection() {
        for lang in Lang::ALL {
            let c = Catalogue::shipped(lang);
            let mut x: Xlsx<_> = Xlsx::new(std::io::Cursor::new(template_workbook(c))).unwrap();
            let names = x.sheet_names().to_vec();
            assert_eq!(
                names,
                [c.text("template.sheet"), c.text("template.notes_sheet")]
            );
            let range = x.worksheet_range(&names[0]).unwrap();
            let first: Vec<&Data> = range.rows().next().unwrap().iter().collect();
            assert_eq!(first.len(), 5, "{lang}");
            for (cell, h) in first.iter().zip(headers(c)) {
                assert_eq!(**cell, Data::String(h.into()), "{lang}");
                assert!(crate::header::classify(h).is_some(), "{lang}: {h}");
            }
            assert_eq!(range.rows().count(), 1, "{lang}: no example row there");
        }
        let es = Catalogue::shipped(Lang::Es);
        assert_eq!(
            headers(es),
            ["Nombre", "Apellido", "Correo", "Celular", "Campaña"]
        );
    }
}
