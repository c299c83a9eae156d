// The chat page's PDF view: an indexed PDF drawn by pdf.js (vendor/pdfjs/, see its README) in the
// document viewer, opened at the cited page with the cited passage highlighted in pdf.js's text
// layer. An ES module that app.js imports the first time a PDF is opened. It builds DOM nodes and
// text nodes only: nothing from the PDF is ever parsed as HTML.
import * as pdfjs from "./vendor/pdfjs/pdf.min.mjs";

pdfjs.GlobalWorkerOptions.workerSrc = new URL("./vendor/pdfjs/pdf.worker.min.mjs", import.meta.url).href;

let current = null;  // the open view: { pdf, observer, container, ... }

// Draws `data` (the PDF's bytes) into `container`, one box per page (the others drawn as they
// scroll near), scrolled to page `page` with `quote` highlighted there. `onPage(n, total)` is told
// the page in view. Resolves once the cited page is drawn, to how many characters of the quote
// were found and highlighted (0 when none: the page is shown all the same).
export async function open(container, data, { page = 1, quote = "", onPage = () => {} } = {}) {
  close();
  const view = { container, onPage, pages: [], drawn: new Map(), observer: null, pdf: null, closed: false };
  current = view;
  // isEvalSupported: pdf.js up to 5 compiled PDF functions with eval unless told not to; 6 has no
  // such path. Kept so an older copy dropped in here stays within the page's CSP too.
  const task = pdfjs.getDocument({ data, isEvalSupported: false, enableXfa: false });
  view.task = task;
  view.pdf = await task.promise;
  if (view.closed) return 0;
  const total = view.pdf.numPages;
  page = Math.min(Math.max(1, page || 1), total);
  const first = await view.pdf.getPage(page);
  if (view.closed) return 0;
  const natural = first.getViewport({ scale: 1 });
  const room = container.clientWidth - 32;  // the padding of #viewer-pdf
  view.scale = Math.min(2.5, Math.max(0.5, room / natural.width));
  const guess = first.getViewport({ scale: view.scale });  // every page's size until it is drawn
  container.replaceChildren();
  for (let n = 1; n <= total; n++) {
    const box = document.createElement("section");
    box.className = "pdf-page";
    box.dataset.pageNumber = String(n);
    box.setAttribute("aria-label", `Page ${n} of ${total}`);
    box.style.width = `${Math.floor(guess.width)}px`;
    box.style.height = `${Math.floor(guess.height)}px`;
    container.append(box);
    view.pages.push(box);
  }
  const layer = await draw(view, page);
  if (view.closed) return 0;
  const folded = fold(quote);
  const trail = quote.trimEnd().match(/[^\p{L}\p{N}\s]*$/u)[0].length;  // its closing punctuation
  // A quote never runs over a page break: the indexed text has a blank line there, where
  // sentences end. So the cited page is all there is to search.
  const found = layer && folded.chars ? highlight(layer, folded.chars, trail) : 0;
  const mark = view.pages[page - 1].querySelector("mark.pdf-quote");
  if (mark) mark.scrollIntoView({ block: "center" });
  else container.scrollTop = view.pages[page - 1].offsetTop - container.offsetTop;
  onPage(page, total);
  view.observer = new IntersectionObserver((entries) => {
    for (const e of entries) if (e.isIntersecting) draw(view, Number(e.target.dataset.pageNumber));
  }, { root: container, rootMargin: "100% 0px" });
  view.pages.forEach((box) => view.observer.observe(box));
  view.onScroll = () => onPage(pageInView(view), total);
  container.addEventListener("scroll", view.onScroll, { passive: true });
  return found;
}

// Frees the document (and pdf.js's worker) when the viewer closes or shows something else.
export function close() {
  const view = current;
  current = null;
  if (!view) return;
  view.closed = true;
  view.observer?.disconnect();
  if (view.onScroll) view.container.removeEventListener("scroll", view.onScroll);
  view.task?.destroy();
}

function pageInView(view) {
  const probe = view.container.scrollTop + view.container.clientHeight / 3;
  let n = 1;
  for (const box of view.pages) if (box.offsetTop - view.container.offsetTop <= probe) n = Number(box.dataset.pageNumber);
  return n;
}

// Page n drawn once: its canvas, then its text layer. Resolves to the text layer (its spans and
// their strings), or null when the view was closed meanwhile.
function draw(view, n) {
  if (!view.drawn.has(n)) view.drawn.set(n, drawPage(view, n).catch((e) => {
    if (!view.closed) console.warn(`pdf.js could not draw page ${n}:`, e);
    return null;
  }));
  return view.drawn.get(n);
}

async function drawPage(view, n) {
  const page = await view.pdf.getPage(n);
  if (view.closed) return null;
  const viewport = page.getViewport({ scale: view.scale });
  const box = view.pages[n - 1];
  box.style.width = `${Math.floor(viewport.width)}px`;
  box.style.height = `${Math.floor(viewport.height)}px`;
  box.style.setProperty("--scale-factor", String(viewport.scale));
  const ratio = window.devicePixelRatio || 1;  // sharp on high-density screens
  const canvas = document.createElement("canvas");
  canvas.width = Math.floor(viewport.width * ratio);
  canvas.height = Math.floor(viewport.height * ratio);
  canvas.style.width = `${Math.floor(viewport.width)}px`;
  canvas.style.height = `${Math.floor(viewport.height)}px`;
  canvas.setAttribute("aria-hidden", "true");  // the text layer holds the page's words
  const textLayer = document.createElement("div");
  textLayer.className = "textLayer";
  box.replaceChildren(canvas, textLayer);
  await page.render({ canvas, viewport, transform: ratio === 1 ? null : [ratio, 0, 0, ratio, 0, 0] }).promise;
  if (view.closed) return null;
  const text = new pdfjs.TextLayer({ textContentSource: page.streamTextContent(), container: textLayer, viewport });
  await text.render();
  box.dataset.drawn = "true";
  return { spans: text.textDivs, strings: text.textContentItemsStr };
}

// ---- finding the quote in the text layer ---------------------------------------------------------
// The indexed text (pypdf's) and pdf.js's text layer differ in spaces, line breaks, hyphenation
// ("infor-" + "mation"), ligatures and quote marks, rarely in letters and digits. So both are
// compared as their letters and digits only, case-folded and NFKC-normalised (the ligature "ﬁ" is
// "fi"), each folded character remembering where in its string it came from.
const WORDLIKE = /[\p{L}\p{N}]/u;
function fold(text) {
  let chars = "";
  const from = [];  // [start, end) in `text` of each UTF-16 unit of `chars`
  for (let i = 0; i < text.length;) {
    const ch = String.fromCodePoint(text.codePointAt(i));
    for (const f of ch.normalize("NFKC").toLowerCase()) {
      if (!WORDLIKE.test(f)) continue;
      chars += f;
      for (let k = 0; k < f.length; k++) from.push([i, i + ch.length]);
    }
    i += ch.length;
  }
  return { chars, from };
}

// Marks the longest beginning of `quote` (folded) that the page holds; returns how many of its
// characters were marked. A beginning shorter than MIN_MATCH characters could be chance: then the
// longest piece of the quote found anywhere on the page is marked instead, if it is that long
// (the two extractions may order a page's lines differently).
const MIN_MATCH = 12;
function highlight(layer, quote, trail) {
  const where = [];  // per folded character of the page: [span index, start, end] in its string
  let page = "";
  layer.strings.forEach((s, i) => {
    const f = fold(s);
    page += f.chars;
    for (const [a, b] of f.from) where.push([i, a, b]);
  });
  const enough = Math.min(MIN_MATCH, quote.length);
  let [at, length] = longestPrefix(page, quote);
  if (length < enough) {
    [at, length] = longestPrefix(page, quote, enough);
    if (at >= 0) markRange(layer, where, at, at + length);
    return length;
  }
  markRange(layer, where, at, at + length, length === quote.length ? trail : 0);
  return length;
}

// The longest prefix of `needle` in `hay`: [index, length], or [-1, 0]. With `anywhere`, the
// longest piece of `needle` starting at any of its positions (at least `anywhere` long) instead.
function longestPrefix(hay, needle, anywhere = 0) {
  if (anywhere) {
    let best = [-1, 0];
    for (let s = 0; s + Math.max(best[1], anywhere) <= needle.length; s++) {
      const [at, length] = longestPrefix(hay, needle.slice(s));
      if (length > best[1] && length >= anywhere) best = [at, length];
    }
    return best;
  }
  let lo = 1, hi = needle.length, best = [-1, 0];
  while (lo <= hi) {  // a prefix found means every shorter one is found too
    const mid = (lo + hi) >> 1;
    const at = hay.indexOf(needle.slice(0, mid));
    if (at >= 0) { best = [at, mid]; lo = mid + 1; } else hi = mid - 1;
  }
  return best;
}

// Wraps folded characters [from, to) of the page in <mark class="pdf-quote">, span by span (a
// span keeps its position; the mark sits inside it, as pdf.js's own viewer highlights). What the
// folding left out is marked too where it lies between marked words (spaces, a line's closing
// hyphen or comma), and at the very end as much punctuation as the quote ends with (`trail`).
const PUNCTUATION = /[^\p{L}\p{N}\s]/u;
function markRange(layer, where, from, to, trail = 0) {
  const bySpan = new Map();
  for (let k = from; k < to; k++) {
    const [i, a, b] = where[k];
    const r = bySpan.get(i);
    if (r) r[1] = b; else bySpan.set(i, [a, b]);
  }
  const spans = [...bySpan.keys()];
  for (let [i, [a, b]] of bySpan) {
    const text = layer.strings[i];
    if (i !== spans[0] && !WORDLIKE.test(text.slice(0, a))) a = 0;
    if (i !== spans.at(-1)) {
      if (!WORDLIKE.test(text.slice(b))) b = text.length;
    } else {
      for (let more = trail; more > 0 && b < text.length && PUNCTUATION.test(text[b]); more--) b++;
    }
    const mark = document.createElement("mark");
    mark.className = "pdf-quote";
    mark.textContent = text.slice(a, b);
    layer.spans[i].replaceChildren(text.slice(0, a), mark, text.slice(b));
  }
}
