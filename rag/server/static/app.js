// The rag chat page: plain JS, no build step. Talks to /api/* (see /docs).
"use strict";

const $ = (sel) => document.querySelector(sel);
const el = (tag, attrs = {}, ...children) => {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const child of children) node.append(child);
  return node;
};
const basename = (path) => path.split(/[\\/]/).pop();
// Each indexed source by the fewest last parts of its path that no other source ends with, as the
// CLI cites them (rag.text.shortest_unique_paths): eight READMEs read "zlib/README", "zstd/README".
let shortNames = new Map();
function setShortNames(paths) {
  const parts = new Map(paths.map((p) => [p, p.split(/[\\/]/).filter(Boolean)]));
  const names = new Map();
  let pending = [...parts.keys()];
  for (let n = 1; pending.length; n++) {
    const counts = new Map();
    for (const mine of parts.values()) {
      const key = mine.slice(-n).join("/");
      counts.set(key, (counts.get(key) || 0) + 1);
    }
    pending = pending.filter((p) => {
      const mine = parts.get(p), key = mine.slice(-n).join("/");
      if (counts.get(key) === 1) names.set(p, key);
      else if (n >= mine.length) names.set(p, p);
      else return true;
      return false;
    });
  }
  shortNames = names;
}
const sourceName = (path) => shortNames.get(path) || basename(path);

const state = { conversationId: null, busy: false, controller: null, docs: new Map(), documents: [] };

// ---- API access, with the key kept in localStorage ---------------------------------------------
const KEY = "rag.apiKey";
function authHeaders() {
  const key = localStorage.getItem(KEY);
  if (!key) return {};
  // A header value is bytes, one per character up to U+00FF: send the key's UTF-8 bytes that way,
  // so a key with other characters can be sent at all (the server compares the bytes).
  return { Authorization: `Bearer ${String.fromCharCode(...new TextEncoder().encode(key))}` };
}
function askForKey() {
  return new Promise((resolve) => {
    const dialog = $("#key-dialog");
    dialog.addEventListener("close", () => {
      const key = $("#key-input").value.trim();
      if (key) localStorage.setItem(KEY, key);
      resolve();
    }, { once: true });
    dialog.showModal();
  });
}
async function api(path, options = {}) {
  for (let attempt = 0; attempt < 3; attempt++) {
    const res = await fetch(path, { ...options, headers: { ...(options.headers || {}), ...authHeaders() } });
    if (res.status !== 401) return res;
    await askForKey();
  }
  throw new Error("the API key was refused");
}
// The server's own words for a refused request: its "detail" is a message, or (422) a list of
// {loc, msg} as FastAPI writes validation errors ("question has 5000 characters, more than...").
function errorText(body, status, statusText) {
  const detail = body && body.detail;
  if (typeof detail === "string" && detail) return detail;
  if (Array.isArray(detail)) {
    const msgs = detail.map((d) => (d && typeof d.msg === "string" ? d.msg : "")).filter(Boolean);
    if (msgs.length) return msgs.join("; ");
  }
  return `${status} ${statusText || ""}`.trim();
}
async function apiJSON(path, options = {}) {
  const res = await api(path, options);
  const body = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(errorText(body, res.status, res.statusText));
  return body;
}

// Python counts characters by code point, JS strings by UTF-16 unit: convert citation offsets.
function utf16Index(text, cp) {
  if (!/[\uD800-\uDFFF]/.test(text)) return cp;
  let i = 0;
  for (let n = 0; n < cp && i < text.length; n++) i += text.codePointAt(i) > 0xffff ? 2 : 1;
  return i;
}
// `id` is the document_id the server sends with every citation and passage.
async function loadDocument(id) {
  if (!state.docs.has(id)) state.docs.set(id, apiJSON(`/api/documents/${id}`).catch((e) => { state.docs.delete(id); throw e; }));
  return state.docs.get(id);
}

// ---- safe markdown ------------------------------------------------------------------------------
// Answers render a small markdown subset (paragraphs, headings, lists, emphasis, code, tables)
// built from DOM nodes and text nodes only: nothing a document or a model wrote is ever parsed as
// HTML, so markup in a document shows as text and cannot run. [n] markers become citation buttons.
const INLINE = /(`+)([^`]+?)\1|\*\*(.+?)\*\*|\*(?=\S)(.+?)\*|\[(\d+)\]/g;
function inline(text, answer) {
  const frag = document.createDocumentFragment();
  const known = new Set((answer?.citations || []).map((c) => c.n));
  let last = 0;
  for (const m of text.matchAll(INLINE)) {
    let node = null;
    if (m[2] !== undefined) node = el("code", {}, m[2]);
    else if (m[3] !== undefined) node = el("strong", {}, inline(m[3], answer));
    else if (m[4] !== undefined) node = el("em", {}, inline(m[4], answer));
    else if (known.has(Number(m[5]))) {
      const n = Number(m[5]);
      const changed = answer.citations.find((c) => c.n === n)?.changed;
      node = el("button", { class: changed ? "cite changed" : "cite", type: "button", "data-n": String(n),
        title: changed ? "The source changed since this answer: show the quote as it was" : "Show the source",
        onclick: (e) => showCitation(answer, n, e.currentTarget, e.detail === 0) }, `[${n}]`);
      // Said in words, not only in colour: the cited text is no longer in the document.
      if (changed) node = el("span", { class: "cite-changed" }, node, el("span", { class: "source-changed" }, "source changed"));
    }
    if (!node) continue;
    frag.append(text.slice(last, m.index), node);
    last = m.index + m[0].length;
  }
  frag.append(text.slice(last));
  return frag;
}
const LIST_ITEM = /^\s{0,3}([-*+]|\d{1,9}[.)])\s+(.*)$/;
const TABLE_RULE = /^\s*\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?\s*$/;
const HEADING = /^\s{0,3}(#{1,6})\s+(.*)$/;
const FENCE = /^\s*```/;
const startsBlock = (line, next) => FENCE.test(line) || HEADING.test(line) || LIST_ITEM.test(line)
  || (line.includes("|") && TABLE_RULE.test(next || ""));
const cells = (line) => line.trim().replace(/^\|/, "").replace(/\|$/, "").split("|").map((c) => c.trim());
function renderMarkdown(text, answer) {
  const frag = document.createDocumentFragment();
  const lines = text.replace(/\r\n?/g, "\n").split("\n");
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    if (!line.trim()) { i++; continue; }
    if (FENCE.test(line)) {  // fenced code
      const body = [];
      for (i++; i < lines.length && !FENCE.test(lines[i]); i++) body.push(lines[i]);
      i++;
      frag.append(el("pre", {}, el("code", {}, body.join("\n"))));
      continue;
    }
    const heading = line.match(HEADING);
    if (heading) {
      frag.append(el(`h${Math.min(6, heading[1].length + 2)}`, {}, inline(heading[2], answer)));
      i++;
      continue;
    }
    if (line.includes("|") && i + 1 < lines.length && TABLE_RULE.test(lines[i + 1])) {
      const head = el("tr", {}, ...cells(line).map((c) => el("th", {}, inline(c, answer))));
      const body = el("tbody");
      for (i += 2; i < lines.length && lines[i].includes("|") && lines[i].trim(); i++) {
        body.append(el("tr", {}, ...cells(lines[i]).map((c) => el("td", {}, inline(c, answer)))));
      }
      frag.append(el("div", { class: "table-wrap" }, el("table", {}, el("thead", {}, head), body)));
      continue;
    }
    const item = line.match(LIST_ITEM);
    if (item) {
      const ordered = /\d/.test(item[1]);
      const list = el(ordered ? "ol" : "ul");
      if (ordered && parseInt(item[1], 10) !== 1) list.setAttribute("start", String(parseInt(item[1], 10)));
      for (let m; i < lines.length && (m = lines[i].match(LIST_ITEM)) && /\d/.test(m[1]) === ordered; i++) {
        list.append(el("li", {}, inline(m[2], answer)));
      }
      frag.append(list);
      continue;
    }
    const para = el("p");  // its first line always, so every turn of the loop moves on
    for (let first = true; i < lines.length && lines[i].trim() && (first || !startsBlock(lines[i], lines[i + 1]));
         i++, first = false) {
      if (!first) para.append(el("br"));
      para.append(inline(lines[i], answer));
    }
    frag.append(para);
  }
  return frag;
}

// ---- rendering messages ------------------------------------------------------------------------
function scrollDown() { const m = $("#messages"); m.scrollTop = m.scrollHeight; }

// One question and its answer. `turn.mid` is the stored message's id (regenerate and edit
// replace it and everything after it).
function addTurn(question, mid = null) {
  $("#empty")?.remove();
  const turn = { question, mid, answer: null };
  const bubble = el("div", { class: "bubble" }, question);
  const edit = el("button", { type: "button", class: "edit", "aria-label": "Edit this question and resend",
    onclick: () => startEdit(turn) }, "Edit");
  turn.user = el("div", { class: "msg user" }, bubble, el("div", { class: "actions" }, edit));
  turn.msg = el("div", { class: "msg assistant streaming" }, el("div", { class: "bubble" }), el("div", { class: "meta" }));
  $("#messages").append(turn.user, turn.msg);
  scrollDown();
  return turn;
}

function backendLabel(backend) {
  return !backend || backend === "none" ? "quoted from sources" : `written by ${backend}, checked`;
}

function actionButtons(turn) {
  const copy = el("button", { type: "button", class: "copy", "aria-label": "Copy the answer with its sources",
    onclick: async () => {
      try { await copyText(answerAsText(turn.answer)); copy.textContent = "Copied"; }
      catch (e) { copy.textContent = "Copy failed"; }
      setTimeout(() => { copy.textContent = "Copy"; }, 2000);
    } }, "Copy");
  const again = el("button", { type: "button", class: "regenerate", "aria-label": "Regenerate this answer",
    onclick: () => resend(turn, turn.question) }, "Regenerate");
  return el("span", { class: "actions" }, ...(turn.answer ? [copy] : []), again);
}

function renderAnswer(turn, answer) {
  const msg = turn.msg;
  turn.answer = answer;
  msg.classList.remove("streaming");
  msg.classList.toggle("abstained", answer.abstained);
  const bubble = msg.querySelector(".bubble");
  delete bubble.dataset.status;
  bubble.classList.add("md");
  bubble.replaceChildren(renderMarkdown(answer.answer, answer));
  const meta = msg.querySelector(".meta");
  meta.replaceChildren();
  if (answer.abstained) {
    meta.append(el("span", { class: "badge" }, "Not found in your documents"));
  } else {
    meta.append(el("span", { class: "verified" }, `✓ ${answer.citations.length} citation${answer.citations.length === 1 ? "" : "s"}`));
    const changed = answer.citations.filter((c) => c.changed).length;
    if (changed) meta.append(el("span", { class: "badge changed" }, `⚠ ${changed} source${changed === 1 ? "" : "s"} changed since`));
  }
  meta.append(el("span", { class: "backend", title: "What wrote this answer" }, backendLabel(answer.backend)));
  if (answer.timings_ms?.total) meta.append(el("span", {}, `${(answer.timings_ms.total / 1000).toFixed(1)} s`));
  meta.append(actionButtons(turn));
  msg.querySelectorAll(".notice, .see-also").forEach((n) => n.remove());
  if (answer.notice) msg.append(el("div", { class: "notice" }, answer.notice));
  if (answer.abstained && answer.see_also?.length) {
    const list = el("ul", { class: "see-also", "aria-label": "Nearest passages" });
    for (const p of answer.see_also) {
      const snippet = p.text.replace(/\s+/g, " ").slice(0, 240) + (p.text.length > 240 ? "…" : "");
      list.append(el("li", {},
        el("div", { class: "src" }, el("span", {}, `Nearest passage · ${sourceName(p.source)}`),
          el("a", { href: "#", onclick: (e) => { e.preventDefault(); openViewer(p.document_id, p.source, p.start, p.end); } }, "open")),
        el("div", {}, snippet)));
    }
    msg.append(list);
  }
  scrollDown();
}

function renderStopped(turn, text) {
  turn.msg.classList.remove("streaming");
  turn.msg.classList.add(text === null ? "error" : "stopped");
  const meta = turn.msg.querySelector(".meta");
  meta.replaceChildren(el("span", { class: "badge" }, text === null ? "Failed" : "Stopped"), actionButtons(turn));
}

// The answer as plain text, its citations as footnotes (as the OpenAI endpoint sends them).
function answerAsText(answer) {
  if (!answer.citations.length) return answer.answer;
  const notes = answer.citations.map((c) => `[${c.n}] ${sourceName(c.source)}${c.page ? `, page ${c.page}` : ""}: "${c.quote}"`);
  return `${answer.answer}\n\nSources:\n${notes.join("\n")}`;
}
async function copyText(text) {
  if (navigator.clipboard?.writeText) return navigator.clipboard.writeText(text);
  const area = el("textarea", { class: "offscreen", readonly: "" });
  area.value = text;
  document.body.append(area);
  area.select();
  const ok = document.execCommand("copy");
  area.remove();
  if (!ok) throw new Error("copy refused");
}

function removeFrom(turn) {
  const all = [...$("#messages").children];
  all.slice(all.indexOf(turn.user)).forEach((n) => n.remove());
}

// Regenerate (same question) or edit-and-resend: the turn and all after it are replaced.
function resend(turn, question) {
  if (state.busy) return;
  removeFrom(turn);
  ask(question, turn.mid);
}

function startEdit(turn) {
  if (state.busy || turn.user.querySelector("textarea")) return;
  const bubble = turn.user.querySelector(".bubble");
  const box = el("textarea", { class: "edit-box", "aria-label": "Edit the question", rows: "3" });
  box.value = turn.question;
  const cancel = () => { form.remove(); bubble.hidden = false; };
  const form = el("form", { class: "edit-form", onsubmit: (e) => {
      e.preventDefault();
      const q = box.value.trim();
      if (q) resend(turn, q);
    } }, box, el("div", { class: "row" },
    el("button", { type: "button", onclick: cancel }, "Cancel"),
    el("button", { type: "submit", class: "primary" }, "Send")));
  box.addEventListener("keydown", (e) => {
    if (e.key === "Escape") cancel();
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); form.requestSubmit(); }
  });
  bubble.hidden = true;
  turn.user.prepend(form);
  box.focus();
}

// ---- the citation side panel and the whole-document viewer -----------------------------------
// Opened from the keyboard (Enter or Space on a [n]: a click with no mouse, detail 0), the panel
// takes the focus, so a screen reader reads the source; Escape or × gives it back to the [n].
async function showCitation(answer, n, button, fromKeyboard = false) {
  const c = answer.citations.find((x) => x.n === n);
  document.querySelectorAll("button.cite.active").forEach((b) => b.classList.remove("active"));
  button?.classList.add("active");
  const body = $("#citation-body");
  $("#citation-heading").textContent = `Source [${n}]`;
  $("#citation-panel").hidden = false;
  if (fromKeyboard) $("#citation-heading").focus();
  body.replaceChildren(el("div", { class: "source-name" }, sourceName(c.source)), el("div", { class: "source-where" }, "loading…"));
  let doc = null;
  // A changed source no longer holds the quote at these offsets: show the quote as it was.
  if (!c.changed) try { doc = await loadDocument(c.document_id); } catch (e) { /* removed since: show the quote alone */ }
  const where = [];
  if (c.page) where.push(`page ${c.page}`);
  const passage = el("div", { class: "passage" });
  if (doc) {
    const text = doc.text;
    const s = utf16Index(text, c.start), e = utf16Index(text, c.end);
    const line = text.slice(0, s).split("\n").length;
    if (!c.page) where.push(`line ${line}`);
    // The passage around the supporting sentence, cut at whitespace.
    let from = Math.max(0, s - 320), to = Math.min(text.length, e + 320);
    if (from > 0) from = text.indexOf(" ", from) + 1 || from;
    if (to < text.length) to = text.lastIndexOf(" ", to) > e ? text.lastIndexOf(" ", to) : to;
    passage.append((from > 0 ? "…" : "") + text.slice(from, s), el("mark", {}, text.slice(s, e)),
      text.slice(e, to) + (to < text.length ? "…" : ""));
    if (doc.title && doc.title !== basename(c.source)) where.unshift(doc.title);
  } else {
    passage.append(el("mark", {}, c.quote));
    where.push(c.changed ? "source changed since this answer: the quote as it was" : "document no longer indexed");
  }
  where.push(`characters ${c.start}–${c.end}`);
  body.replaceChildren(
    el("div", { class: "source-name" }, sourceName(c.source)),
    el("div", { class: "source-where" }, where.join(" · ")),
    passage,
    ...(doc ? [el("a", { href: "#", class: "open-document", onclick: (ev) => { ev.preventDefault(); openViewer(c.document_id, c.source, c.start, c.end); } },
      doc.type === "pdf" ? `Open the PDF at page ${pageOf(doc, c.start)} →` : "Open the whole document at this place →")] : []),
  );
}

function closePanel() {
  const panel = $("#citation-panel");
  const hadFocus = panel.contains(document.activeElement);
  panel.hidden = true;
  const cite = document.querySelector("button.cite.active");
  cite?.classList.remove("active");
  if (hadFocus) cite?.focus();
}

let viewerOpener = null;  // what had the focus before the viewer opened: it gets it back
let viewing = null;  // what the viewer shows: { id, source, start, end, doc, mode: "pdf" | "text" }
let pdfView = null;  // pdf_view.js, imported when the first PDF is opened
// The page of a PDF (1-based) holding character `start` of its text.
function pageOf(doc, start) {
  return (doc.pages || []).find((p) => p.start <= start && start < p.end)?.number
    || (doc.pages || []).findLast((p) => p.start <= start)?.number || 1;
}

// The whole document at a place: a PDF as itself (pdf.js, at the page, the passage highlighted;
// "Text view" switches), anything else, or a PDF whose file is gone or changed, as the indexed
// text with the passage marked.
async function openViewer(id, source, start, end) {
  let doc;
  try { doc = await loadDocument(id); } catch (e) { alert(`Cannot open ${sourceName(source)}: ${e.message}`); return; }
  $("#viewer-title").textContent = `${sourceName(source)}${doc.title ? " — " + doc.title : ""}`;
  if ($("#doc-viewer").hidden) viewerOpener = document.activeElement;
  $("#doc-viewer").hidden = false;
  viewing = { id, source, start, end, doc, mode: doc.type === "pdf" ? "pdf" : "text" };
  if (viewing.mode === "pdf") await showPdf(viewing);
  else showText(viewing);
}

function showMode(spot, notice = "") {
  const pdf = spot.mode === "pdf";
  pdfView?.close();
  $("#viewer-pdf").hidden = !pdf;
  $("#viewer-text").hidden = pdf;
  $("#viewer-page").textContent = "";
  $("#viewer-notice").hidden = !notice;
  $("#viewer-notice").textContent = notice;
  const mode = $("#viewer-mode");
  mode.hidden = spot.doc.type !== "pdf";
  mode.textContent = pdf ? "Text view" : "PDF view";
  mode.title = pdf ? "Show the text that was indexed" : "Show the PDF itself";
}

function showText(spot, notice = "") {
  spot.mode = "text";
  showMode(spot, notice);
  const text = spot.doc.text, s = utf16Index(text, spot.start), e = utf16Index(text, spot.end);
  const box = $("#viewer-text");
  const mark = el("mark", { id: "viewer-mark" }, text.slice(s, e));
  box.replaceChildren(text.slice(0, s), mark, text.slice(e));
  mark.scrollIntoView({ block: "center" });
  box.focus({ preventScroll: true });  // the arrow keys scroll the text
}

async function showPdf(spot) {
  showMode(spot);
  const box = $("#viewer-pdf");
  box.replaceChildren(el("p", { class: "pdf-status" }, "Loading the PDF…"));
  box.setAttribute("aria-busy", "true");
  box.focus({ preventScroll: true });  // the arrow keys scroll the pages
  const still = () => viewing === spot && spot.mode === "pdf" && !$("#doc-viewer").hidden;
  const text = spot.doc.text;
  try {
    const res = await api(`/api/documents/${spot.id}/file`);
    if (!res.ok) {
      const body = await res.json().catch(() => ({}));
      throw new Error(errorText(body, res.status, res.statusText));
    }
    const data = new Uint8Array(await res.arrayBuffer());
    pdfView ||= await import("/static/pdf_view.js");
    if (!still()) return;
    await pdfView.open(box, data, {
      page: pageOf(spot.doc, spot.start),
      quote: text.slice(utf16Index(text, spot.start), utf16Index(text, spot.end)),
      onPage: (n, total) => { if (still()) $("#viewer-page").textContent = `page ${n} of ${total}`; },
    });
  } catch (e) {
    if (still()) showText(spot, `The PDF cannot be shown: ${e.message}. This is the text that was indexed.`);
  } finally {
    box.setAttribute("aria-busy", "false");
  }
}

$("#viewer-mode").addEventListener("click", () => {
  if (!viewing) return;
  if (viewing.mode === "pdf") showText(viewing);
  else { viewing.mode = "pdf"; showPdf(viewing); }
});
function closeViewer() {
  $("#doc-viewer").hidden = true;
  pdfView?.close();
  viewing = null;
  viewerOpener?.focus();
  viewerOpener = null;
}
$("#close-viewer").addEventListener("click", closeViewer);
$("#doc-viewer").addEventListener("click", (e) => { if (e.target.id === "doc-viewer") closeViewer(); });
$("#close-panel").addEventListener("click", closePanel);
// Escape closes the innermost thing open: the viewer, else the source panel (while an answer
// streams, only when the focus is in the panel), else it stops the answer. An edit or rename box
// handles its own Escape (cancel).
document.addEventListener("keydown", (e) => {
  if (e.key === "Tab" && !$("#doc-viewer").hidden) {  // a modal: the focus stays in it
    const reachable = [...$("#doc-viewer").querySelectorAll("button, [tabindex='0']")].filter((n) => !n.closest("[hidden]"));
    const [first, last] = [reachable[0], reachable.at(-1)];
    const out = e.shiftKey ? document.activeElement === first : document.activeElement === last;
    if (out || !$("#doc-viewer").contains(document.activeElement)) { e.preventDefault(); (e.shiftKey ? last : first).focus(); }
    return;
  }
  if (e.key !== "Escape") return;
  const panel = $("#citation-panel");
  if (!$("#doc-viewer").hidden) closeViewer();
  else if (e.target.closest?.(".edit-form, .rename-box")) return;
  else if (!panel.hidden && (!state.busy || panel.contains(e.target))) closePanel();
  else if (state.busy) state.controller?.abort();  // Esc stops an answer
});

// ---- asking: POST /api/chat and read its Server-Sent Events ------------------------------------
async function* sseEvents(response) {
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value.replace(/\r/g, "");
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      let event = "message", data = "";
      for (const line of block.split("\n")) {
        if (line.startsWith("event:")) event = line.slice(6).trim();
        else if (line.startsWith("data:")) data += (data ? "\n" : "") + line.slice(5).replace(/^ /, "");
      }
      if (data) yield { event, data: JSON.parse(data) };
    }
  }
}

function setBusy(busy) {
  state.busy = busy;
  $("#send").hidden = busy;
  $("#stop").hidden = !busy;
  document.body.classList.toggle("busy", busy);
}

function send() {
  const box = $("#question");
  const question = box.value.trim();
  if (!question || state.busy) return;
  box.value = "";
  autosize();
  ask(question, null);
}

// Stop aborts the request; the server notices the closed connection and stops generating.
$("#stop").addEventListener("click", () => state.controller?.abort());

async function ask(question, replaceFrom) {
  setBusy(true);
  const turn = addTurn(question);
  const bubble = turn.msg.querySelector(".bubble");
  const controller = state.controller = new AbortController();
  try {
    const res = await api("/api/chat", {
      method: "POST", headers: { "Content-Type": "application/json" }, signal: controller.signal,
      body: JSON.stringify({ question, conversation_id: state.conversationId,
                             ...(replaceFrom !== null && state.conversationId ? { replace_from: replaceFrom } : {}) }),
    });
    if (!res.ok) {
      const body = await res.json().catch(() => ({}));
      throw new Error(errorText(body, res.status, res.statusText));
    }
    for await (const { event, data } of sseEvents(res)) {
      if (event === "conversation") {
        const isNew = state.conversationId !== data.conversation_id;
        state.conversationId = data.conversation_id;
        localStorage.setItem("rag.conversation", data.conversation_id);
        if (isNew) { $("#chat-title").textContent = data.title || question; loadConversations(); }
      } else if (event === "status") {
        if (!bubble.textContent) bubble.dataset.status = "checking the evidence…";
      } else if (event === "token") {
        delete bubble.dataset.status;
        bubble.append(data.text);
        scrollDown();
      } else if (event === "final") {
        turn.mid = data.message_id;
        renderAnswer(turn, data);
      } else if (event === "error") {
        throw new Error(data.detail);
      }
    }
    if (turn.msg.classList.contains("streaming")) throw new Error("the answer was cut off; try again");
  } catch (e) {
    delete bubble.dataset.status;
    if (controller.signal.aborted) {
      if (!bubble.textContent) bubble.textContent = "Stopped.";
      renderStopped(turn, bubble.textContent);
    } else {
      bubble.textContent = `Something went wrong: ${e.message}`;
      renderStopped(turn, null);
    }
  } finally {
    state.controller = null;
    setBusy(false);
    loadConversations();
  }
}

function autosize() {
  const box = $("#question");
  box.style.height = "auto";
  box.style.height = `${Math.min(box.scrollHeight, 192)}px`;
}
$("#question").addEventListener("input", autosize);
$("#question").addEventListener("keydown", (e) => {
  if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); send(); }
});
$("#composer").addEventListener("submit", (e) => { e.preventDefault(); send(); });

// ---- conversations -----------------------------------------------------------------------------
function shortDate(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "";
  const today = new Date().toDateString() === d.toDateString();
  return today ? d.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" })
    : d.toLocaleDateString(undefined, { day: "numeric", month: "short", year: d.getFullYear() === new Date().getFullYear() ? undefined : "numeric" });
}

let searchTimer = null;
$("#conversation-search").addEventListener("input", () => {
  clearTimeout(searchTimer);
  searchTimer = setTimeout(loadConversations, 200);
});

async function loadConversations() {
  const q = $("#conversation-search").value.trim();
  let items;
  try { items = await apiJSON(`/api/conversations${q ? `?q=${encodeURIComponent(q)}` : ""}`); } catch (e) { return; }
  const list = $("#conversations");
  list.replaceChildren(...items.map((c) => {
    const title = el("span", { class: "title" }, c.title || "New chat");
    const open = (e) => {
      if (e.target.closest("button, input")) return;
      openConversation(c.id);
      document.body.classList.remove("drawer-open");
    };
    const li = el("li", {
      class: c.id === state.conversationId ? "active" : "", "data-id": c.id, title: c.title, tabindex: "0",
      onclick: open, onkeydown: (e) => { if (e.key === "Enter" && e.target === li) open(e); },
    }, el("div", { class: "conv-text" }, title,
      el("time", { datetime: c.updated_at, title: new Date(c.updated_at).toLocaleString() }, shortDate(c.updated_at))),
    el("button", { type: "button", class: "rename icon", "aria-label": `Rename ${c.title || "conversation"}`, title: "Rename",
      onclick: () => startRename(c, li, title) }, "✎"),
    el("button", { type: "button", class: "delete icon", "aria-label": `Delete ${c.title || "conversation"}`, title: "Delete",
      onclick: () => deleteConversation(c) }, "×"));
    return li;
  }));
  if (!items.length) list.append(el("li", { class: "muted" }, q ? "No conversation matches." : "No conversations yet."));
}

function startRename(c, li, title) {
  const input = el("input", { type: "text", class: "rename-box", "aria-label": "New name", maxlength: "200" });
  input.value = c.title;
  let done = false;
  const finish = async (save) => {
    if (done) return;
    done = true;
    const name = input.value.trim();
    if (save && name && name !== c.title) {
      try {
        await apiJSON(`/api/conversations/${encodeURIComponent(c.id)}`, {
          method: "PATCH", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ title: name }) });
        if (c.id === state.conversationId) $("#chat-title").textContent = name;
      } catch (e) { alert(e.message); }
    }
    loadConversations();
  };
  input.addEventListener("keydown", (e) => {
    if (e.key === "Enter") { e.preventDefault(); finish(true); }
    if (e.key === "Escape") finish(false);
  });
  input.addEventListener("blur", () => finish(true));
  title.replaceWith(input);
  input.focus();
  input.select();
}

async function deleteConversation(c) {
  if (!confirm(`Delete "${c.title || "New chat"}"?`)) return;
  try { await apiJSON(`/api/conversations/${encodeURIComponent(c.id)}`, { method: "DELETE" }); } catch (e) { alert(e.message); }
  if (c.id === state.conversationId) startNewChat();
  loadConversations();
}

async function openConversation(id) {
  const conv = await apiJSON(`/api/conversations/${encodeURIComponent(id)}`);
  state.conversationId = conv.id;
  localStorage.setItem("rag.conversation", conv.id);
  $("#chat-title").textContent = conv.title || "New chat";
  $("#messages").replaceChildren();
  $("#citation-panel").hidden = true;
  for (const m of conv.messages) renderAnswer(addTurn(m.question, m.id), m.answer);
  if (!conv.messages.length) newChatView();
  loadConversations();
}

function newChatView() {
  $("#messages").replaceChildren(el("div", { class: "empty", id: "empty" }, el("h2", {}, "Ask your documents"),
    el("p", {}, "Every answer sentence cites the passage it came from.")));
}
function startNewChat() {
  state.conversationId = null;  // created on the first question
  localStorage.removeItem("rag.conversation");
  $("#chat-title").textContent = "New chat";
  $("#citation-panel").hidden = true;
  newChatView();
}
$("#new-chat").addEventListener("click", () => {
  startNewChat();
  loadConversations();
  document.body.classList.remove("drawer-open");
  $("#question").focus();
});

// ---- documents ---------------------------------------------------------------------------------
function humanSize(bytes) {
  if (bytes === null || bytes === undefined) return "";
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(bytes < 10240 ? 1 : 0)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}
const SORTS = {
  name: (a, b) => a.name.localeCompare(b.name),
  newest: (a, b) => b.indexed_at.localeCompare(a.indexed_at),
  size: (a, b) => (b.size ?? -1) - (a.size ?? -1),
  type: (a, b) => a.type.localeCompare(b.type) || a.name.localeCompare(b.name),
};

async function loadDocuments() {
  try { state.documents = await apiJSON("/api/documents"); } catch (e) { return; }
  setShortNames(state.documents.map((d) => d.source));
  showDocuments();
}

function showDocuments() {
  const q = $("#document-search").value.trim().toLowerCase();
  const docs = state.documents
    .filter((d) => !q || [d.name, d.folder, d.title].some((s) => s.toLowerCase().includes(q)))
    .sort(SORTS[$("#document-sort").value] || SORTS.name);
  const list = $("#documents");
  list.replaceChildren(...docs.map((d) => {
    const facts = [d.type.toUpperCase(), humanSize(d.size),
      d.page_count ? `${d.page_count} ${d.type === "pptx" ? "slide" : "page"}${d.page_count === 1 ? "" : "s"}` : "",
      `${d.chunks} chunk${d.chunks === 1 ? "" : "s"}`,
      d.indexed_at ? `indexed ${shortDate(d.indexed_at)}` : "", d.encoding].filter(Boolean);
    return el("li", { "data-id": d.id, title: d.source },
      el("div", { class: "doc-text" },
        el("span", { class: "name" }, d.name),
        ...(d.title && d.title !== d.name ? [el("span", { class: "doc-title" }, d.title)] : []),
        el("small", { class: "folder" }, d.uploaded ? "uploaded" : d.folder),
        el("small", { class: "facts" }, facts.join(" · "))),
      el("div", { class: "doc-actions" },
        el("button", { type: "button", class: "summarize", "aria-label": `Summarize ${d.name}`,
          onclick: () => summarizeDocument(d) }, "Summarize"),
        el("button", { type: "button", "aria-label": `Remove ${d.name}`, onclick: () => removeDocument(d) }, "Remove")));
  }));
  if (!docs.length) list.append(el("li", {}, state.documents.length ? "No document matches." : "No documents yet."));
}

// `rag serve --watch`: the watched folders and the last sync, polled while the Documents panel is
// open; a new sync reloads the list. Nothing is shown when the server watches nothing.
const WATCH_POLL_MS = 3000;
let watchTimer = null, lastSyncs = null;
async function loadWatch() {
  let w;
  try { w = await apiJSON("/api/watch"); } catch (e) { return; }
  $("#watch-status").hidden = !w.watching;
  if (!w.watching) return;
  $("#watched-folders").replaceChildren(...w.folders.map((f) => el("li", { title: f }, f)));
  const time = (iso) => new Date(iso).toLocaleTimeString([], { hour12: false });
  const ls = w.last_sync;
  $("#last-sync").textContent = w.error
    ? (w.running ? `Watching started again after: ${w.error}` : `Watching stopped: ${w.error} (it will be started again)`)
    : !ls ? "Waiting for the first sync…"
    : `last sync ${time(ls.at)} (${ls.indexed} file${ls.indexed === 1 ? "" : "s"}${ls.removed ? `, ${ls.removed} removed` : ""}${ls.failed ? `, ${ls.failed} failed` : ""})`;
  if (lastSyncs !== null && w.syncs !== lastSyncs) loadDocuments();
  lastSyncs = w.syncs;
}
function watchWhileOpen(open) {
  clearInterval(watchTimer);
  watchTimer = null;
  if (!open) return;
  loadWatch();
  watchTimer = setInterval(() => { if (!$("#docs-panel").hidden && !document.hidden) loadWatch(); }, WATCH_POLL_MS);
}

$("#document-search").addEventListener("input", showDocuments);
$("#document-sort").addEventListener("change", showDocuments);

// A summary of the whole document, shown in the chat like an answer (its [n] open the sources).
// It is not stored in the conversation; "Regenerate" asks for it again through the chat.
async function summarizeDocument(d) {
  if (state.busy) return;
  document.body.classList.remove("drawer-open");
  setBusy(true);
  const turn = addTurn(`Summarize ${d.name}`);
  const bubble = turn.msg.querySelector(".bubble");
  bubble.dataset.status = "reading the whole document…";
  try {
    renderAnswer(turn, await apiJSON(`/api/documents/${d.id}/summary`, { method: "POST" }));
  } catch (e) {
    delete bubble.dataset.status;
    bubble.textContent = `Something went wrong: ${e.message}`;
    renderStopped(turn, null);
  } finally {
    setBusy(false);
  }
}

async function removeDocument(d) {
  if (!confirm(`Remove ${d.name} from the index?`)) return;
  try { await apiJSON(`/api/documents/${d.id}`, { method: "DELETE" }); } catch (e) { alert(e.message); }
  state.docs.delete(d.id);
  loadDocuments();
}

// One request per file, so each file has its own progress bar and its own result.
function uploadFile(file) {
  const status = el("span", { class: "status" }, "uploading…");
  const bar = el("progress", { max: "100", value: "0" });
  const item = el("li", { class: "uploading" }, el("span", { class: "name" }, file.name), status, bar);
  $("#uploads").prepend(item);
  const finish = (ok, text) => {
    item.className = ok ? "done" : "failed";
    status.textContent = text;
    bar.remove();
  };
  return new Promise((resolve) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", "/api/documents");
    xhr.setRequestHeader("X-Requested-With", "rag");  // the server refuses uploads without it (no cross-site form posts)
    for (const [k, v] of Object.entries(authHeaders())) xhr.setRequestHeader(k, v);
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable) bar.value = Math.round((100 * e.loaded) / e.total);
      if (e.loaded === e.total) status.textContent = "indexing…";
    };
    xhr.onload = () => {
      let body = {};
      try { body = JSON.parse(xhr.responseText); } catch (e) { /* not JSON */ }
      if (xhr.status === 401) { finish(false, "API key needed"); askForKey(); }
      else if (xhr.status !== 200) finish(false, errorText(body, xhr.status, xhr.statusText));
      else {
        const r = body.results[0];
        if (r.status === "failed") finish(false, r.reason);
        else finish(true, r.status === "unchanged" ? "already indexed" : r.status);
      }
      resolve();
    };
    xhr.onerror = () => { finish(false, "network error"); resolve(); };
    const form = new FormData();
    form.append("files", file, file.name);
    xhr.send(form);
  });
}

async function uploadFiles(files) {
  showTab("docs");
  for (const file of files) await uploadFile(file);  // one at a time: the server indexes one at a time too
  loadDocuments();
}
$("#file-input").addEventListener("change", (e) => { uploadFiles([...e.target.files]); e.target.value = ""; });
let dragDepth = 0;
window.addEventListener("dragenter", (e) => { e.preventDefault(); dragDepth++; document.body.classList.add("dragging"); });
window.addEventListener("dragleave", () => { if (--dragDepth <= 0) { dragDepth = 0; document.body.classList.remove("dragging"); } });
window.addEventListener("dragover", (e) => e.preventDefault());
window.addEventListener("drop", (e) => {
  e.preventDefault();
  dragDepth = 0;
  document.body.classList.remove("dragging");
  if (e.dataTransfer?.files?.length) uploadFiles([...e.dataTransfer.files]);
});

// ---- theme: the system's unless chosen here (theme.js applies it before the page paints) -------
function effectiveTheme() {
  return document.documentElement.dataset.theme
    || (matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light");
}
function showThemeButton() {
  const dark = effectiveTheme() === "dark";
  const b = $("#theme-toggle");
  b.textContent = dark ? "☀" : "☾";
  b.setAttribute("aria-label", dark ? "Switch to light mode" : "Switch to dark mode");
  b.title = b.getAttribute("aria-label");
}
$("#theme-toggle").addEventListener("click", () => {
  const next = effectiveTheme() === "dark" ? "light" : "dark";
  localStorage.setItem("rag.theme", next);
  document.documentElement.dataset.theme = next;
  showThemeButton();
});
matchMedia("(prefers-color-scheme: dark)").addEventListener("change", showThemeButton);
showThemeButton();

// ---- layout: tabs and the phone drawer -----------------------------------------------------------
function showTab(name) {
  document.querySelectorAll(".tabs button").forEach((b) => {
    b.classList.toggle("active", b.dataset.tab === name);
    b.setAttribute("aria-selected", String(b.dataset.tab === name));
  });
  $("#chats-panel").hidden = name !== "chats";
  $("#docs-panel").hidden = name !== "docs";
  if (name === "docs") loadDocuments();
  watchWhileOpen(name === "docs");
}
document.querySelectorAll(".tabs button").forEach((b) => b.addEventListener("click", () => showTab(b.dataset.tab)));
$("#menu").addEventListener("click", () => document.body.classList.toggle("drawer-open"));
$("#messages").addEventListener("click", () => document.body.classList.remove("drawer-open"));

// ---- start -------------------------------------------------------------------------------------
(async function start() {
  const last = localStorage.getItem("rag.conversation");
  if (last) await openConversation(last).catch(() => localStorage.removeItem("rag.conversation"));
  await loadConversations();
  loadDocuments();
  autosize();  // a narrow screen wraps the placeholder
  $("#question").focus();
})();
