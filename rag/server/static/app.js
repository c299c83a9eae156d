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

const state = { conversationId: null, busy: false, docs: new Map() };

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
async function apiJSON(path, options = {}) {
  const res = await api(path, options);
  const body = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(typeof body.detail === "string" ? body.detail : `${res.status} ${res.statusText}`);
  return body;
}

// Python counts characters by code point, JS strings by UTF-16 unit: convert citation offsets.
function utf16Index(text, cp) {
  if (!/[\uD800-\uDFFF]/.test(text)) return cp;
  let i = 0;
  for (let n = 0; n < cp && i < text.length; n++) i += text.codePointAt(i) > 0xffff ? 2 : 1;
  return i;
}
function docId(source) {
  const bytes = new TextEncoder().encode(source);
  let bin = "";
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}
async function loadDocument(source) {
  const id = docId(source);
  if (!state.docs.has(id)) state.docs.set(id, apiJSON(`/api/documents/${id}`).catch((e) => { state.docs.delete(id); throw e; }));
  return state.docs.get(id);
}

// ---- rendering answers -------------------------------------------------------------------------
function scrollDown() { const m = $("#messages"); m.scrollTop = m.scrollHeight; }

function addUserMessage(text) {
  $("#empty")?.remove();
  const msg = el("div", { class: "msg user" }, el("div", { class: "bubble" }, text));
  $("#messages").append(msg);
  scrollDown();
}

function addAssistantMessage() {
  const bubble = el("div", { class: "bubble" });
  const meta = el("div", { class: "meta" });
  const msg = el("div", { class: "msg assistant streaming" }, bubble, meta);
  $("#messages").append(msg);
  scrollDown();
  return msg;
}

// Text with [n] markers -> text nodes and clickable citation buttons.
function withCitations(text, answer) {
  const frag = document.createDocumentFragment();
  const known = new Set(answer.citations.map((c) => c.n));
  let last = 0;
  for (const m of text.matchAll(/\[(\d+)\]/g)) {
    const n = Number(m[1]);
    if (!known.has(n)) continue;
    frag.append(text.slice(last, m.index));
    frag.append(el("button", { class: "cite", type: "button", "data-n": String(n), title: "Show the source",
      onclick: (e) => showCitation(answer, n, e.currentTarget) }, `[${n}]`));
    last = m.index + m[0].length;
  }
  frag.append(text.slice(last));
  return frag;
}

function renderAnswer(msg, answer) {
  msg.classList.remove("streaming");
  msg.classList.toggle("abstained", answer.abstained);
  const bubble = msg.querySelector(".bubble");
  bubble.replaceChildren(withCitations(answer.answer, answer));
  const meta = msg.querySelector(".meta");
  meta.replaceChildren();
  if (answer.abstained) {
    meta.append(el("span", { class: "badge" }, "Not found in your documents"));
  } else {
    meta.append(el("span", { class: "verified" }, `✓ ${answer.citations.length} citation${answer.citations.length === 1 ? "" : "s"}`));
  }
  if (answer.timings_ms?.total) meta.append(el("span", {}, `${(answer.timings_ms.total / 1000).toFixed(1)} s`));
  msg.querySelectorAll(".notice, .see-also").forEach((n) => n.remove());
  if (answer.notice) msg.append(el("div", { class: "notice" }, answer.notice));
  if (answer.abstained && answer.see_also?.length) {
    const list = el("ul", { class: "see-also", "aria-label": "Nearest passages" });
    for (const p of answer.see_also) {
      const snippet = p.text.replace(/\s+/g, " ").slice(0, 240) + (p.text.length > 240 ? "…" : "");
      list.append(el("li", {},
        el("div", { class: "src" }, el("span", {}, `Nearest passage · ${basename(p.source)}`),
          el("a", { href: "#", onclick: (e) => { e.preventDefault(); openViewer(p.source, p.start, p.end); } }, "open")),
        el("div", {}, snippet)));
    }
    msg.append(list);
  }
  scrollDown();
}

// ---- the citation side panel and the whole-document viewer -----------------------------------
async function showCitation(answer, n, button) {
  const c = answer.citations.find((x) => x.n === n);
  document.querySelectorAll("button.cite.active").forEach((b) => b.classList.remove("active"));
  button?.classList.add("active");
  const body = $("#citation-body");
  $("#citation-heading").textContent = `Source [${n}]`;
  $("#citation-panel").hidden = false;
  body.replaceChildren(el("div", { class: "source-name" }, basename(c.source)), el("div", { class: "source-where" }, "loading…"));
  let doc = null;
  try { doc = await loadDocument(c.source); } catch (e) { /* removed since: show the quote alone */ }
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
    where.push("document no longer indexed");
  }
  where.push(`characters ${c.start}–${c.end}`);
  body.replaceChildren(
    el("div", { class: "source-name" }, basename(c.source)),
    el("div", { class: "source-where" }, where.join(" · ")),
    passage,
    ...(doc ? [el("a", { href: "#", class: "open-document", onclick: (ev) => { ev.preventDefault(); openViewer(c.source, c.start, c.end); } },
      "Open the whole document at this place →")] : []),
  );
}

async function openViewer(source, start, end) {
  let doc;
  try { doc = await loadDocument(source); } catch (e) { alert(`Cannot open ${basename(source)}: ${e.message}`); return; }
  const text = doc.text, s = utf16Index(text, start), e = utf16Index(text, end);
  $("#viewer-title").textContent = `${basename(source)}${doc.title ? " — " + doc.title : ""}`;
  const box = $("#viewer-text");
  const mark = el("mark", { id: "viewer-mark" }, text.slice(s, e));
  box.replaceChildren(text.slice(0, s), mark, text.slice(e));
  $("#doc-viewer").hidden = false;
  mark.scrollIntoView({ block: "center" });
}
$("#close-viewer").addEventListener("click", () => { $("#doc-viewer").hidden = true; });
$("#doc-viewer").addEventListener("click", (e) => { if (e.target.id === "doc-viewer") $("#doc-viewer").hidden = true; });
$("#close-panel").addEventListener("click", () => { $("#citation-panel").hidden = true; });
document.addEventListener("keydown", (e) => {
  if (e.key === "Escape") { $("#doc-viewer").hidden = true; }
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

async function send() {
  const box = $("#question");
  const question = box.value.trim();
  if (!question || state.busy) return;
  state.busy = true;
  $("#send").disabled = true;
  box.value = "";
  autosize();
  addUserMessage(question);
  const msg = addAssistantMessage();
  const bubble = msg.querySelector(".bubble");
  try {
    const res = await api("/api/chat", {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ question, conversation_id: state.conversationId }),
    });
    if (!res.ok) {
      const body = await res.json().catch(() => ({}));
      throw new Error(typeof body.detail === "string" ? body.detail : `${res.status} ${res.statusText}`);
    }
    for await (const { event, data } of sseEvents(res)) {
      if (event === "conversation") {
        const isNew = state.conversationId !== data.conversation_id;
        state.conversationId = data.conversation_id;
        localStorage.setItem("rag.conversation", data.conversation_id);
        if (isNew) $("#chat-title").textContent = question;
      } else if (event === "status") {
        if (!bubble.textContent) bubble.dataset.status = "checking the evidence…";
      } else if (event === "token") {
        delete bubble.dataset.status;
        bubble.append(data.text);
        scrollDown();
      } else if (event === "final") {
        renderAnswer(msg, data);
      } else if (event === "error") {
        throw new Error(data.detail);
      }
    }
    if (msg.classList.contains("streaming")) throw new Error("the answer was cut off; try again");
  } catch (e) {
    msg.classList.remove("streaming");
    msg.classList.add("error");
    bubble.textContent = `Something went wrong: ${e.message}`;
  } finally {
    state.busy = false;
    $("#send").disabled = false;
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
async function loadConversations() {
  let items;
  try { items = await apiJSON("/api/conversations"); } catch (e) { return; }
  const list = $("#conversations");
  list.replaceChildren(...items.map((c) => el("li", {
    class: c.id === state.conversationId ? "active" : "", "data-id": c.id, title: c.title,
    onclick: () => { openConversation(c.id); document.body.classList.remove("drawer-open"); },
  }, el("span", { class: "title" }, c.title || "New chat"))));
  if (!items.length) list.append(el("li", { class: "muted" }, "No conversations yet."));
}

async function openConversation(id) {
  const conv = await apiJSON(`/api/conversations/${encodeURIComponent(id)}`);
  state.conversationId = conv.id;
  localStorage.setItem("rag.conversation", conv.id);
  $("#chat-title").textContent = conv.title || "New chat";
  $("#messages").replaceChildren();
  $("#citation-panel").hidden = true;
  for (const m of conv.messages) {
    addUserMessage(m.question);
    renderAnswer(addAssistantMessage(), m.answer);
  }
  if (!conv.messages.length) newChatView();
  loadConversations();
}

function newChatView() {
  $("#messages").replaceChildren(el("div", { class: "empty", id: "empty" }, el("h2", {}, "Ask your documents"),
    el("p", {}, "Every answer sentence cites the passage it came from.")));
}
$("#new-chat").addEventListener("click", () => {
  state.conversationId = null;  // created on the first question
  localStorage.removeItem("rag.conversation");
  $("#chat-title").textContent = "New chat";
  $("#citation-panel").hidden = true;
  newChatView();
  loadConversations();
  document.body.classList.remove("drawer-open");
  $("#question").focus();
});

// ---- documents ---------------------------------------------------------------------------------
async function loadDocuments() {
  let docs;
  try { docs = await apiJSON("/api/documents"); } catch (e) { return; }
  const list = $("#documents");
  list.replaceChildren(...docs.map((d) => el("li", { "data-id": d.id, title: d.source },
    el("span", { class: "name" }, d.name), el("small", {}, `${d.chunks} chunks`),
    el("button", { type: "button", "aria-label": `Remove ${d.name}`, onclick: () => removeDocument(d) }, "Remove"))));
  if (!docs.length) list.append(el("li", {}, "No documents yet."));
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
      else if (xhr.status !== 200) finish(false, body.detail && typeof body.detail === "string" ? body.detail : `error ${xhr.status}`);
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

// ---- layout: tabs and the phone drawer -----------------------------------------------------------
function showTab(name) {
  document.querySelectorAll(".tabs button").forEach((b) => {
    b.classList.toggle("active", b.dataset.tab === name);
    b.setAttribute("aria-selected", String(b.dataset.tab === name));
  });
  $("#chats-panel").hidden = name !== "chats";
  $("#docs-panel").hidden = name !== "docs";
  if (name === "docs") loadDocuments();
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
  $("#question").focus();
})();
