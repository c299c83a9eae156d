"""Files -> Documents: each format is read with its library, any other file whose content is text
is read in the encoding it was written in, and every file that cannot be read is refused with a
reason a person can act on. Discovery skips symlinks leading out of the folder being ingested."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from support import make_docx, make_eml, make_epub, make_odt, make_pdf, make_pptx, make_report_pdf, make_scanned_pdf

from rag.errors import IngestError
from rag.loaders import discover, load


def write(path: Path, data: bytes | str) -> Path:
    if isinstance(data, str):
        path.write_text(data, encoding="utf-8")
    else:
        path.write_bytes(data)
    return path


def refusal(path: Path) -> str:
    with pytest.raises(IngestError) as info:
        load(path)
    return str(info.value)


# ---- good files ------------------------------------------------------------------------------

@settings(max_examples=50, deadline=None)
@given(st.text(min_size=1).filter(lambda t: t.strip() and "\x00" not in t and not t.startswith("\ufeff")))
def test_text_file_reads_as_python_text_mode_reads_it(tmp_path_factory, text):
    path = write(tmp_path_factory.mktemp("t") / "note.txt", text.encode("utf-8"))
    assert load(path).text == path.read_text(encoding="utf-8")


def test_windows_line_endings_are_read_as_newlines(tmp_path):
    doc = load(write(tmp_path / "dos.txt", b"First line.\r\nSecond line.\rThird line.\r\n"))
    assert doc.text == "First line.\nSecond line.\nThird line.\n"


def test_text_file_title_is_its_first_line(tmp_path):
    doc = load(write(tmp_path / "note.md", "\n# Field notes\n\nThe heron came back."))
    assert doc.title == "Field notes"


def test_pdf_text_and_page_offsets(tmp_path):
    path = make_pdf(tmp_path / "report.pdf", ["The first page talks about herons.", "The second page is on otters."],
                    title="River survey")
    doc = load(path)
    assert doc.title == "River survey"
    assert [p.number for p in doc.pages] == [1, 2]
    second = doc.text.index("otters")
    assert doc.page_at(doc.text.index("herons")) == 1 and doc.page_at(second) == 2
    assert all("herons" in doc.text[p.start:p.end] for p in doc.pages[:1])


HEADER = "Northern Wetlands Survey 2024 - Internal Draft"


def test_pdf_running_header_footer_and_page_numbers_are_furniture_kept_in_the_text(tmp_path):
    bodies = [[f"Station {n} counted {n * 7 + i} herons in plot {i}." for i in range(3)] for n in range(1, 7)]
    doc = load(make_report_pdf(tmp_path / "survey.pdf", bodies, HEADER))
    spans = {(f.page, doc.text[f.start:f.end]) for f in doc.furniture}
    assert spans == {(n, HEADER) for n in range(1, 7)} | {(n, f"Page {n} of 6") for n in range(1, 7)}
    assert all(doc.page_at(f.start) == f.page for f in doc.furniture)
    body = "\n".join(doc.text[a:b] for a, b in doc.body())
    assert HEADER not in body and "Page 3 of 6" not in body
    assert all(line in body for lines in bodies for line in lines)  # body lines alike in shape stay


def test_pdf_page_without_text_layer_is_named_in_the_notices(tmp_path):
    bodies = [["The first page talks about herons."], [], ["The third page is on otters."]]
    doc = load(make_report_pdf(tmp_path / "scan.pdf", bodies, HEADER))
    assert doc.notices == ("page 2 has no text layer (scanned?)",)
    assert [p.number for p in doc.pages] == [1, 2, 3] and doc.page_at(doc.text.index("otters")) == 3


def test_two_page_pdf_keeps_its_lines_but_drops_bare_page_numbers(tmp_path):
    doc = load(make_report_pdf(tmp_path / "short.pdf", [["Herons nest here."], ["Otters swim there."]], HEADER,
                               footer="- {n} -"))
    assert sorted(doc.text[f.start:f.end] for f in doc.furniture) == ["- 1 -", "- 2 -"]


def test_docx_paragraphs_and_title(tmp_path):
    path = make_docx(tmp_path / "memo.docx", ["Budget memo", "The budget for 2025 is 40 pounds."], title="Memo")
    doc = load(path)
    assert "The budget for 2025 is 40 pounds." in doc.text
    assert doc.title == "Memo"


def test_html_keeps_visible_text_and_drops_scripts(tmp_path):
    path = write(tmp_path / "page.html", "<html><head><title>Trip</title><style>p{}</style></head><body>"
                                         "<script>var secret = 1;</script><p>We walked to Kestrel Point.</p>"
                                         "</body></html>")
    doc = load(path)
    assert "We walked to Kestrel Point." in doc.text
    assert "secret" not in doc.text and "p{}" not in doc.text
    assert doc.title == "Trip"


def test_html_without_a_declared_charset_is_decoded_like_a_text_file(tmp_path):
    page = "<html><body><p>Le caf\u00e9 \u201cchez Andr\u00e9\u201d co\u00fbte \u20ac3.</p></body></html>"
    doc = load(write(tmp_path / "page.html", page.encode("cp1252")))
    assert doc.text == "Le caf\u00e9 \u201cchez Andr\u00e9\u201d co\u00fbte \u20ac3." and doc.encoding == "cp1252"


def test_html_declaring_its_charset_is_read_in_it(tmp_path):
    page = '<html><head><meta charset="iso-8859-2"></head><body><p>\u0141\u00f3d\u017a</p></body></html>'
    doc = load(write(tmp_path / "page.html", page.encode("iso-8859-2")))
    assert doc.text == "\u0141\u00f3d\u017a" and doc.encoding == "iso8859-2"


# ---- bad files -------------------------------------------------------------------------------

def test_empty_file_is_refused(tmp_path):
    assert "empty" in refusal(write(tmp_path / "empty.txt", b""))


def test_whitespace_only_file_is_refused(tmp_path):
    assert "empty" in refusal(write(tmp_path / "blank.md", b"  \n\t\n"))


def test_binary_file_is_refused(tmp_path):
    assert "binary" in refusal(write(tmp_path / "blob.txt", b"\x7fELF\x02\x01\x00\x00\x00" + bytes(range(256))))


def test_binary_file_without_an_extension_is_refused_as_binary(tmp_path):
    assert "binary" in refusal(write(tmp_path / "program", b"\x7fELF\x02\x01\x01\x00" + bytes(range(256)) * 40))


def test_a_binary_over_the_size_limit_is_reported_as_binary(tmp_path):
    path = write(tmp_path / "movie", b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 100)
    with pytest.raises(IngestError, match="binary"):
        load(path, max_bytes=1000)


def test_bytes_no_encoding_fits_are_refused_as_not_text(tmp_path):
    noise = bytes(b for b in range(1, 256) if b not in b"\t\n\r") * 40  # no NUL byte, yet no text
    reason = refusal(write(tmp_path / "noise.dat", noise))
    assert "not text" in reason or "binary" in reason


def test_a_zip_archive_is_refused_as_binary(tmp_path):
    import io

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("sheet.xml", "<row>1</row>")
    assert "binary" in refusal(write(tmp_path / "table.xlsx", buffer.getvalue()))


def test_utf8_mixed_with_latin1_is_refused_with_what_to_do(tmp_path):
    data = "Naïve UTF-8 here. ".encode() + "et là du Latin-1.".encode("latin-1")
    reason = refusal(write(tmp_path / "mixed.md", data))
    assert "mixed encodings" in reason and "save the file as UTF-8" in reason


# ---- any encoding ----------------------------------------------------------------------------

ENCODED = {  # file name: (text, encoding it is written in, encodings a correct reading may report)
    "latin1.txt": ("Le café crème et la brûlée de grand-mère, à la façon du Périgord. "
                   "Über die Brücke gehen Müller und Söhne.", "latin-1", {"cp1252", "iso8859-1"}),
    "windows.txt": ("He said \u201cthe fee is \u20ac40\u201d \u2014 and that\u2019s final. Café au lait.", "cp1252",
                    {"cp1252"}),
    "utf16.txt": ("\ufeffUTF-16 with a byte order mark: naïve façade, 日本.", "utf-16-le", {"utf-16"}),
    "shift_jis.txt": ("日本語のテキストです。東京は日本の首都です。桜の花が春に咲きます。", "shift_jis",
                      {"cp932", "shift_jis"}),
    # "Бі" and "Т»" are valid UTF-8 byte pairs in Windows-1251: still one encoding, not a mix.
    "cp1251.txt": ("Бібліотека «ЦЕНТР» відкрита щодня. Біля входу стоїть пам'ятник Тарасу Шевченку, "
                   "а в залі зберігаються старі книги.", "cp1251", {"cp1251"}),
}


@pytest.mark.parametrize("name", ENCODED)
def test_text_in_another_encoding_is_decoded_and_its_encoding_recorded(tmp_path, name):
    text, encoding, reported = ENCODED[name]
    doc = load(write(tmp_path / name, text.encode(encoding)))
    assert doc.text == text.lstrip("\ufeff")
    assert doc.encoding in reported


def test_utf8_text_records_utf8(tmp_path):
    assert load(write(tmp_path / "plain.txt", "Plain text.")).encoding == "utf-8"


@pytest.mark.parametrize("name", ["README", "COPYING", "changelog", "notes.rst", "tool.py", "data.json",
                                  "conf.yaml", "table.csv", "server.log", "paper.tex", "README.Debian", "ls.1"])
def test_any_file_whose_content_is_text_is_read_whatever_its_name(tmp_path, name):
    text = f"Contents of {name}: the heron nests by the river.\nSecond line.\n"
    doc = load(write(tmp_path / name, text))
    assert doc.text == text and doc.title == f"Contents of {name}: the heron nests by the river."


def test_corrupt_pdf_is_refused(tmp_path):
    reason = refusal(write(tmp_path / "broken.pdf", b"%PDF-1.7\n1 0 obj <<\x8f\x01 garbage stream\n"))
    assert "PDF" in reason


def test_truncated_pdf_is_refused(tmp_path):
    good = make_pdf(tmp_path / "good.pdf", ["Some text on a page."]).read_bytes()
    assert "PDF" in refusal(write(tmp_path / "cut.pdf", good[: len(good) // 3]))


def test_file_named_pdf_that_is_not_a_pdf_is_refused(tmp_path):
    assert "not a PDF" in refusal(write(tmp_path / "fake.pdf", "just some text pretending"))


def test_file_named_docx_that_is_not_a_zip_is_refused(tmp_path):
    assert ".docx" in refusal(write(tmp_path / "fake.docx", "plain text, not a zip"))


def test_pdf_without_text_is_refused(tmp_path):
    assert "no text" in refusal(make_pdf(tmp_path / "scan.pdf", [""]))


# ---- discovery -------------------------------------------------------------------------------

def test_discover_finds_files_of_any_name(tmp_path):
    for name in ("README", "setup.py", "table.xlsx"):
        write(tmp_path / name, "x.")
    files, errors = discover([tmp_path])
    assert [f.name for f in files] == ["README", "setup.py", "table.xlsx"] and errors == []


def test_discover_reports_missing_path(tmp_path):
    missing = tmp_path / "nowhere" / "gone.txt"
    files, errors = discover([missing])
    assert files == [] and [(e.path, e.reason) for e in errors] == [(str(missing), "no such file or folder")]


def test_discover_survives_a_symlink_loop_and_finds_each_file_once(tmp_path):
    folder = tmp_path / "notes"
    (folder / "sub").mkdir(parents=True)
    write(folder / "a.txt", "A.")
    write(folder / "sub" / "b.md", "B.")
    os.symlink(folder, folder / "loop")
    os.symlink(folder / "sub", folder / "sub" / "up")
    files, errors = discover([folder])
    assert sorted(f.name for f in files) == ["a.txt", "b.md"]
    assert errors and all("loop" in e.reason for e in errors)


def test_discover_reports_a_file_name_that_is_not_utf8(tmp_path):
    name = os.fsdecode(b"caf\xe9.txt")  # Latin-1 bytes in the name
    write(tmp_path / name, "Coffee.")
    files, errors = discover([tmp_path])
    assert files == [] and "not valid UTF-8" in errors[0].reason


def test_discover_reports_a_self_referencing_symlink(tmp_path):
    link = tmp_path / "self.txt"
    os.symlink(link, link)
    files, errors = discover([link])
    assert files == [] and [e.path for e in errors] == [str(link)] and "loop" in errors[0].reason


def test_discover_recurses_in_stable_order_and_skips_hidden_files(tmp_path):
    for name in ("b.txt", "a.md", "c/d.html", ".hidden.txt", ".git/x.txt"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        write(tmp_path / name, "x.")
    files, errors = discover([tmp_path])
    assert [f.relative_to(tmp_path).as_posix() for f in files] == ["a.md", "b.txt", "c/d.html"]
    assert errors == []


# ---- symlinks --------------------------------------------------------------------------------

@pytest.fixture
def folder_with_links_out(tmp_path) -> tuple[Path, Path]:
    """notes/ with its own file, a link to a file outside, a link to a folder outside, and a
    link to a file inside it."""
    outside = tmp_path / "private"
    outside.mkdir()
    write(outside / "secret.txt", "Outside the folder.")
    folder = tmp_path / "notes"
    folder.mkdir()
    write(folder / "own.txt", "Inside.")
    os.symlink(outside / "secret.txt", folder / "secret-link.txt")
    os.symlink(outside, folder / "private-link")
    os.symlink(folder / "own.txt", folder / "own-link.txt")
    return folder, outside


def test_symlinks_leading_outside_the_folder_are_skipped_and_reported(folder_with_links_out):
    folder, _ = folder_with_links_out
    files, errors = discover([folder])
    assert files == [(folder / "own.txt").resolve()]  # the link inside leads to the same file: once
    assert sorted(Path(e.path).name for e in errors) == ["private-link", "secret-link.txt"]
    assert all(e.reason == f"symlink leads outside {folder}; use --follow-symlinks to include it" for e in errors)


def test_follow_symlinks_includes_what_links_lead_to(folder_with_links_out):
    folder, outside = folder_with_links_out
    files, errors = discover([folder], follow_symlinks=True)
    assert sorted(files) == sorted([(folder / "own.txt").resolve(), (outside / "secret.txt").resolve()])
    assert errors == []


def test_a_symlink_named_on_the_command_line_is_read(folder_with_links_out):
    folder, outside = folder_with_links_out
    files, errors = discover([folder / "secret-link.txt"])
    assert files == [(outside / "secret.txt").resolve()] and errors == []


# ---- headings: Markdown, reStructuredText, HTML ----------------------------------------------

def headings(doc) -> list[tuple[str, str]]:
    """(the text from each heading's start to its line's end, its title)."""
    return [(doc.text[h.start:].split("\n")[0], h.title) for h in doc.headings]


def test_markdown_headings_are_found_outside_code_fences(tmp_path):
    doc = load(write(tmp_path / "guide.md", "# Field guide\n\nHerons nest early.\n\n```sh\n# not a heading\n```\n\n"
                                            "Egrets\n------\n\nEgrets come later.\n\n## Gulls ##\n\n"
                                            "- a list item\n---\n"))
    assert headings(doc) == [("# Field guide", "Field guide"), ("Egrets", "Egrets"), ("## Gulls ##", "Gulls")]


def test_rst_headings_are_underlined_titles(tmp_path):
    doc = load(write(tmp_path / "guide.rst", "======\nHerons\n======\n\nThey nest early.\n\nEgrets\n------\n\nLater.\n"))
    assert headings(doc) == [("======", "Herons"), ("Egrets", "Egrets")]


def test_html_headings_are_found_in_the_extracted_text(tmp_path):
    doc = load(write(tmp_path / "page.html", "<html><body><h1>Field <em>guide</em></h1><p>Herons nest early.</p>"
                                             "<h2>Egrets</h2><p>Egrets come later.</p></body></html>"))
    assert [h.title for h in doc.headings] == ["Field guide", "Egrets"]
    assert doc.text[doc.headings[1].start:].startswith("Egrets\n")
    assert doc.text[doc.headings[0].start:].startswith("Field")


# ---- HTML and DOCX as a reader sees them (issue 18) -----------------------------------------

PAGES = Path(__file__).parent / "data" / "pages"


def sentence_texts(doc):
    from rag.text import split_sentences

    return [doc.text[s.start:s.end] for s in split_sentences(doc.text)]


def section_of(doc, words: str) -> str | None:
    at = doc.text.index(words)
    above = [h.title for h in doc.headings if h.start <= at]
    return above[-1] if above else None


def test_inline_elements_of_a_man_page_style_html_stay_in_their_sentence():
    doc = load(PAGES / "users-and-groups.html")
    found = sentence_texts(doc)
    assert "The shell of user sync is /bin/sync." in found
    assert ("They are created by update-passwd from the master files in /usr/share/base-passwd." in found)
    assert ("Ids 100-999 are allocated by adduser when a package needs them, so they differ from machine to "
            "machine.") in found
    assert "A package must never assume a fixed number for them." in found
    assert "\n/bin/sync" not in doc.text and "/bin/sync\n" not in doc.text


def test_html_sections_are_the_headings_above_the_text_not_their_copies_in_the_table_of_contents():
    doc = load(PAGES / "users-and-groups.html")
    assert section_of(doc, "The shell of user sync") == "Static ids"
    assert section_of(doc, "Ids 100-999") == "Dynamic ids"
    assert section_of(doc, "The user list lives") == "Files"
    manual = load(PAGES / "build-manual.html")
    assert section_of(manual, "Kestrel is a small build system") == "1. Introduction"
    assert section_of(manual, "By default, it looks for") == "2. Running Kestrel"
    assert section_of(manual, "KESTREL_STATUS") == "2.1. Environment variables"
    assert section_of(manual, "The release tarball") == "3. Tarball Extraction"
    for h in manual.headings:  # each heading starts where its own words are
        assert manual.text[h.start:].startswith(h.title)


def test_a_docbook_manual_reads_in_whole_sentences_with_exact_chunks():
    from rag.chunking import chunk_document

    doc = load(PAGES / "build-manual.html")
    found = sentence_texts(doc)
    assert ("By default, it looks for a file named build.kestrel in the current directory and builds all "
            "out-of-date targets.") in found
    assert "Pass -j N to run N jobs in parallel; the default is derived from the number of CPUs in the system." in found
    chunks = chunk_document(doc, size=300, overlap=50)
    for chunk in chunks:
        assert doc.text[chunk.start:chunk.end] == chunk.text
        assert chunk.section == section_of(doc, chunk.text)
    assert {c.section for c in chunks if "build.kestrel" in c.text} == {"2. Running Kestrel"}


def test_html_blocks_break_lines_and_inline_markup_does_not(tmp_path):
    doc = load(write(tmp_path / "p.html", "<p>Run <code>ninja</code>.  By default, it reads\n<a href='x'><b>build.ninja</b></a>"
                                         " in <em>the</em> current folder.</p><ul><li>one</li><li>two</li></ul>"
                                         "<table><tr><th>Port</th><th>Use</th></tr><tr><td>22</td><td>ssh</td></tr>"
                                         "</table><pre>make\n  all</pre><p>a<br>b</p>"))
    assert doc.text == ("Run ninja. By default, it reads build.ninja in the current folder.\n\none\n\ntwo\n\n"
                        "Port | Use\n22 | ssh\n\nmake\n  all\n\na\nb")


def test_docx_tables_stay_where_they_are_in_the_body_and_headings_open_sections(tmp_path):
    import docx

    document = docx.Document()
    document.add_heading("Board minutes", 0)
    document.add_heading("Budget", 1)
    document.add_paragraph("The committee reviewed the figures below.")
    table = document.add_table(rows=2, cols=2)
    for (r, c), value in {(0, 0): "Item", (0, 1): "Amount", (1, 0): "Roof", (1, 1): "48,500 euros"}.items():
        table.cell(r, c).text = value
    document.add_heading("Decisions", 1)
    document.add_paragraph("The contract was awarded to Dunmore.")
    document.save(str(tmp_path / "minutes.docx"))
    doc = load(tmp_path / "minutes.docx")
    assert doc.text.index("below.") < doc.text.index("Roof | 48,500 euros") < doc.text.index("Decisions")
    assert [h.title for h in doc.headings] == ["Board minutes", "Budget", "Decisions"]
    assert section_of(doc, "Roof | 48,500 euros") == "Budget"
    assert section_of(doc, "awarded to Dunmore") == "Decisions"


def test_plain_text_and_code_have_no_headings(tmp_path):
    assert load(write(tmp_path / "notes.txt", "# Not markdown\n\nText.\n")).headings == ()
    assert load(write(tmp_path / "tool.py", "# a comment\nx = 1\n")).headings == ()


# ---- .pptx, .odt, .epub, .eml -----------------------------------------------------------------

def rewrite_zip(path: Path, changes: dict[str, bytes | None]) -> Path:
    """The archive with members replaced, added, or (None) removed."""
    with zipfile.ZipFile(path) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    members.update(changes)
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            if data is not None:
                zf.writestr(name, data)
    return path


def test_pptx_has_a_page_and_a_section_per_slide_with_its_notes(tmp_path):
    doc = load(make_pptx(tmp_path / "deck.pptx", [
        ("Budget 2025", ["The travel budget is 40 pounds per person."], "Trains only, no flights."),
        ("Blank", [], ""),
        ("Otters", ["Otters were counted on the Tay."], "")], title="Plans"))
    assert doc.title == "Plans"
    assert [p.number for p in doc.pages] == [1, 2, 3]
    assert doc.page_at(doc.text.index("40 pounds")) == 1 and doc.page_at(doc.text.index("Tay")) == 3
    assert doc.page_at(doc.text.index("Trains only, no flights.")) == 1  # the notes stay on their slide
    assert headings(doc) == [("Budget 2025", "Slide 1: Budget 2025"), ("Blank", "Slide 2: Blank"),
                             ("Otters", "Slide 3: Otters")]


def test_odt_paragraphs_with_headings_as_sections(tmp_path):
    doc = load(make_odt(tmp_path / "memo.odt", [("h", "Introduction"), ("p", "The heron colony moved in 2024."),
                                                ("h", "Costs"), ("p", "Boats cost 12 pounds an hour.")], title="Memo"))
    assert doc.text == "Introduction\n\nThe heron colony moved in 2024.\n\nCosts\n\nBoats cost 12 pounds an hour."
    assert doc.title == "Memo" and headings(doc) == [("Introduction", "Introduction"), ("Costs", "Costs")]


def test_odt_spaces_tabs_and_line_breaks_read_as_shown(tmp_path):
    path = make_odt(tmp_path / "x.odt", [("p", "placeholder")])
    with zipfile.ZipFile(path) as zf:
        content = zf.read("content.xml").replace(
            b"<text:p>placeholder</text:p>",
            b"<text:p>Two<text:s text:c=\"2\"/>spaces,\n   a<text:tab/>tab<text:line-break/>and a break"
            b"<text:note><text:note-citation>1</text:note-citation><text:note-body><text:p> (a note)</text:p>"
            b"</text:note-body></text:note>.</text:p>")
    rewrite_zip(path, {"content.xml": content})
    assert load(path).text == "Two  spaces, a\ttab\nand a break (a note)."


def test_epub_chapters_in_spine_order_named_by_the_table_of_contents(tmp_path):
    doc = load(make_epub(tmp_path / "book.epub", [("Chapter One: The River", ["The river rises in the hills."]),
                                                  ("Chapter Two: The Sea", ["The estuary is wide."])], title="Waters"))
    assert doc.title == "Waters"
    assert doc.text.index("The river rises") < doc.text.index("The estuary")
    assert "Contents" not in doc.text  # the navigation document is not in the spine
    assert headings(doc) == [("Chapter One: The River", "Chapter One: The River"),
                             ("Chapter Two: The Sea", "Chapter Two: The Sea")]


def test_eml_reads_its_header_and_plain_body_and_names_attachments(tmp_path):
    doc = load(make_eml(tmp_path / "mail.eml", "Survey dates", "Ann Smith <ann@example.org>",
                        "Hello,\r\n\r\nThe survey starts on 3 May at the old mill.\r\n",
                        html="<p>The HTML alternative is not read.</p>",
                        attachments=(("report.pdf", b"%PDF-1.4"), ("photo.jpg", b"\xff\xd8"))))
    assert doc.title == "Survey dates"
    assert doc.text.startswith("From: Ann Smith <ann@example.org>\nTo: team@example.org\n"
                               "Date: Fri, 14 Mar 2025 09:30:00 +0000\nSubject: Survey dates\n\nHello,\n\n"
                               "The survey starts on 3 May at the old mill.")
    assert "HTML alternative" not in doc.text and doc.text.endswith("Attachments: report.pdf, photo.jpg")
    assert doc.notices == ("attachment report.pdf is not indexed: save it and ingest it on its own",)


def test_eml_with_only_html_is_read_by_the_html_reader(tmp_path):
    doc = load(make_eml(tmp_path / "news.eml", "Plan", "bob@example.org", "",
                        html="<html><body><script>x()</script><h2>Meeting</h2><p>We meet by the bridge.</p></body></html>"))
    assert "We meet by the bridge." in doc.text and "x()" not in doc.text
    assert headings(doc) == [("Meeting", "Meeting")]


@pytest.mark.parametrize("name", ["fake.pptx", "fake.odt", "fake.epub"])
def test_zip_format_that_is_not_a_zip_is_refused(tmp_path, name):
    assert "not a zip archive" in refusal(write(tmp_path / name, "plain text, not a zip"))


@pytest.mark.parametrize("name", ["other.pptx", "other.odt", "other.epub"])
def test_zip_without_the_format_s_parts_is_refused_with_what_is_missing(tmp_path, name):
    with zipfile.ZipFile(tmp_path / name, "w") as zf:
        zf.writestr("hello.txt", "hello")
    assert "not a valid" in refusal(tmp_path / name)


def test_file_named_eml_that_is_not_an_email_is_refused(tmp_path):
    assert "not an email" in refusal(write(tmp_path / "x.eml", "just a line of text\nand another"))


# ---- OCR of PDF pages without a text layer ------------------------------------------------------

def test_scanned_pdf_page_is_read_by_ocr_and_marked(tmp_path):
    from rag.loaders import ocr_available

    assert ocr_available(), "tesseract-ocr is installed by scripts/test.sh"
    doc = load(make_scanned_pdf(tmp_path / "scan.pdf", [["The lighthouse keeper counted seventeen gannets."]]))
    assert "seventeen gannets" in doc.text and doc.ocr_pages == (1,)
    assert doc.notices == ("page 1: text read by OCR (tesseract), it may hold misread words",)


def test_without_tesseract_scanned_pages_are_named_with_what_to_install(tmp_path, monkeypatch):
    # tesseract is installed here: the test hides it (in-process load) to check the notices without it.
    import rag.loaders.pdf

    monkeypatch.setattr(rag.loaders.pdf, "ocr_available", lambda: False)  # where the PDF reader looks it up
    scan = make_scanned_pdf(tmp_path / "scan.pdf", [["The lighthouse keeper counted seventeen gannets."]])
    reason = refusal(scan)
    assert "no text layer" in reason and "install tesseract-ocr" in reason


def test_epub2_chapters_are_named_by_the_ncx(tmp_path):
    path = make_epub(tmp_path / "old.epub", [("Heading One", ["The burn rises on the moor."]),
                                             ("Heading Two", ["The firth is wide."])])
    with zipfile.ZipFile(path) as zf:
        opf = zf.read("OEBPS/content.opf").replace(b' properties="nav"', b"").replace(
            b"</manifest>", b'<item id="ncx" href="toc.ncx" media-type="application/x-dtbncx+xml"/></manifest>')
    points = "".join(f'<navPoint id="p{i}"><navLabel><text>Part {i}</text></navLabel><content src="text/ch{i}.xhtml"/>'
                     "</navPoint>" for i in (1, 2))
    ncx = f'<ncx xmlns="http://www.daisy.org/z3986/2005/ncx/" version="2005-1"><navMap>{points}</navMap></ncx>'
    doc = load(rewrite_zip(path, {"OEBPS/content.opf": opf, "OEBPS/toc.ncx": ncx.encode()}))
    assert headings(doc) == [("Heading One", "Part 1"), ("Heading Two", "Part 2")]


def test_drm_encrypted_epub_is_refused(tmp_path):
    path = make_epub(tmp_path / "drm.epub", [("One", ["Scrambled."])])
    encryption = (b'<encryption xmlns="urn:oasis:names:tc:opendocument:xmlns:container" '
                  b'xmlns:enc="http://www.w3.org/2001/04/xmlenc#"><enc:EncryptedData><enc:CipherData>'
                  b'<enc:CipherReference URI="OEBPS/text/ch1.xhtml"/></enc:CipherData></enc:EncryptedData></encryption>')
    assert "DRM" in refusal(rewrite_zip(path, {"META-INF/encryption.xml": encryption}))


def test_password_protected_odt_is_refused(tmp_path):
    path = make_odt(tmp_path / "secret.odt", [("p", "placeholder")])
    manifest = (b'<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0">'
                b'<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml">'
                b"<manifest:encryption-data/></manifest:file-entry></manifest:manifest>")
    assert "encrypted .odt" in refusal(rewrite_zip(path, {"META-INF/manifest.xml": manifest}))


def test_a_fifo_put_in_a_files_place_after_listing_is_refused_without_blocking(tmp_path):
    """Issue 19, item 4: a file listed by discover() and then replaced by a FIFO blocked the reader
    in open() until something wrote to it. Files are opened with O_NONBLOCK and judged by fstat:
    refused at once, for the loaders and for Assistant.original (the PDF route)."""
    import os
    import threading

    from rag.errors import IngestError
    from rag.loaders import load, open_regular

    path = tmp_path / "notes.txt"
    path.write_text("The ferry leaves at nine.")
    files, _ = discover([tmp_path])
    assert files == [path]
    path.unlink()
    os.mkfifo(path)  # nothing ever writes to it
    outcome: list = []

    def read() -> None:
        for attempt in (lambda: load(path), lambda: open_regular(path)):
            try:
                attempt()
            except IngestError as e:
                outcome.append(str(e))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout=10)
    if reader.is_alive():  # let the blocked open() go before failing
        with open(path, "wb"):
            pass
    assert len(outcome) == 2, outcome
    assert all("not a regular file (a pipe, device or socket)" in reason for reason in outcome), outcome
