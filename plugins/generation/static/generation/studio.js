// The creation studio. The Generation rows are the truth: every job event (from jobs.js, over the
// websocket) for a generate job re-reads /api/generations/<id>/, and a slow poll covers lost hints.
const root = document.getElementById("studio");
const form = document.getElementById("studio-form");
const csrf = () => document.querySelector('meta[name="csrf-token"]')?.content;
const FINISHED = ["succeeded", "failed", "cancelled"];
let current = null;          // the generation shown in the main panel
const selected = new Set();  // candidate indices chosen for saving

async function api(url, options = {}) {
  const res = await fetch(url, { ...options, headers: { "Content-Type": "application/json", "X-CSRFToken": csrf(), ...(options.headers || {}) } });
  const body = await res.json().catch(() => ({ error: `HTTP ${res.status}` }));
  if (!res.ok) throw new Error(body.error || `HTTP ${res.status}`);
  return body;
}

function showError(message) {
  const box = document.getElementById("studio-error");
  box.textContent = message || "";
  box.hidden = !message;
}

function settingsFromForm() {
  const data = new FormData(form);
  const body = { prompt: document.getElementById("prompt").value, backend: data.get("backend") };
  for (const key of ["candidates", "keep", "seed", "top_k"]) if (data.get(key) !== "") body[key] = Number(data.get(key));
  for (const key of ["temperature", "top_p"]) if (data.get(key) !== "") body[key] = Number(data.get(key));
  return body;
}

function restore(generation) {
  document.getElementById("prompt").value = generation.prompt;
  form.backend.value = generation.backend;
  for (const key of ["candidates", "keep", "seed", "temperature", "top_k", "top_p"]) {
    const value = generation.settings[key];
    form.elements[key].value = value === null || value === undefined ? "" : value;
  }
}

function describe(g) {
  const parts = [`${g.backend}`, `${g.candidates} candidates → best ${g.keep}`, `seed ${g.seed}`, `temperature ${g.temperature}`];
  if (g.top_k) parts.push(`top-k ${g.top_k}`);
  if (g.top_p) parts.push(`top-p ${g.top_p}`);
  return parts.join(" · ");
}

// Tiles are kept per (generation, index) and updated in place: re-rendering on every progress
// event must not reload the images (they would flicker blank while streaming in).
const tiles = new Map();
const rankScore = (c) => (c.rank_score === null || c.rank_score === undefined ? c.score : c.rank_score);

function tile(c, g) {
  const key = `${g.id}:${c.index}`;
  let el = tiles.get(key);
  if (!el) {
    el = document.createElement("figure");
    el.className = "candidate";
    el.dataset.index = c.index;
    el.innerHTML = `<img alt=""><figcaption class="score"></figcaption><span class="rank" hidden></span>`;
    el.querySelector("img").src = c.image_url;
    el.querySelector("img").alt = `candidate ${c.index}`;
    tiles.set(key, el);
  }
  // The number shown is the CLIP score, named and computed as on a saved photo's page; the green
  // badge is the rank, and the tooltip gives the ranking score the kept ones were chosen by.
  el.dataset.score = rankScore(c);
  const caption = el.querySelector(".score");
  caption.textContent = `#${c.index} · CLIP ${c.score.toFixed(3)}`;
  caption.title = `CLIP score ${c.score.toFixed(3)}: cosine similarity of the picture to the prompt (the photo page shows the same)`
    + (c.rank_score === null || c.rank_score === undefined ? ""
      : `; ranking score ${c.rank_score.toFixed(3)}: the ranking the CLIP model's profile measured for this backend, which chooses the ones kept`);
  const badge = el.querySelector(".rank");
  badge.hidden = !c.rank;
  badge.textContent = c.rank || "";
  if (c.rank) el.dataset.rank = c.rank; else delete el.dataset.rank;
  el.classList.toggle("dropped", g.ranked && !c.rank);
  el.classList.toggle("selected", selected.has(c.index));
  el.classList.toggle("saved", g.saved.some((s) => s.candidate === c.index));
  return el;
}

function render(g) {
  current = g;
  document.getElementById("current").hidden = false;
  document.getElementById("current").dataset.generation = g.id;
  document.getElementById("current").dataset.state = g.state;
  document.getElementById("current").dataset.ranked = g.ranked ? "1" : "";
  document.getElementById("current-prompt").textContent = g.prompt;
  document.getElementById("current-settings").textContent = describe(g);
  const bar = document.getElementById("current-progress");
  bar.max = g.candidates; bar.value = g.sampled;
  let message = g.job.error || g.job.message;
  if (g.queue_position) message = `waiting: number ${g.queue_position} in your queue`;
  if (g.ranked && g.timing.rerank_share !== null) message += ` · reranking took ${(100 * g.timing.rerank_share).toFixed(1)}% of the time`;
  document.getElementById("current-message").textContent = `${g.sampled}/${g.candidates} · ${message}`;
  const preview = document.getElementById("current-preview");
  preview.hidden = !g.preview || g.ranked;
  if (g.preview) preview.querySelector("img").src = g.preview;
  // While sampling: candidates in the order they came; once ranked: best first, the kept ones marked.
  const list = g.ranked ? [...g.candidates_list].sort((a, b) => rankScore(b) - rankScore(a) || a.index - b.index) : g.candidates_list;
  const grid = document.getElementById("candidates");
  grid.replaceChildren(...list.map((c) => tile(c, g)));
  document.getElementById("save-selected").disabled = selected.size === 0;
}

let wanted = null;  // the generation the user chose to see: late answers about another are dropped
async function show(id, { chosen = false } = {}) {
  if (chosen) {
    if (wanted !== id) selected.clear();
    wanted = id;
  }
  const asked = ++asks;
  const g = await api(`${root.dataset.listApi}${id}/`);
  if (g.id === wanted && asked > rendered) {   // answers may arrive out of order: never go back
    rendered = asked;
    render(g);
  }
}
let asks = 0, rendered = 0;

function choose(g) {
  if (wanted !== g.id) selected.clear();
  wanted = g.id;
  rendered = ++asks;
  render(g);
}

function listItem(g) {
  const li = document.createElement("li");
  li.dataset.generation = g.id;
  li.dataset.state = g.state;
  if (g.top) { const img = document.createElement("img"); img.src = g.top.image_url; img.alt = ""; li.append(img); }
  const text = document.createElement("span");
  text.className = "prompt";
  text.textContent = g.prompt;
  text.title = `${g.prompt}\n${describe(g)}`;
  const state = document.createElement("span");
  state.className = "muted";
  state.textContent = g.queue_position ? `#${g.queue_position} waiting` : g.state === "running" ? `${g.job.done}/${g.job.total}` : g.state;
  const open = document.createElement("button");
  open.type = "button"; open.className = "open"; open.textContent = "Show";
  open.addEventListener("click", () => show(g.id, { chosen: true }));
  li.append(text, state, open);
  if (["queued", "running"].includes(g.state)) {
    const stop = document.createElement("button");
    stop.type = "button"; stop.className = "cancel-generation"; stop.textContent = "Cancel";
    stop.addEventListener("click", async () => {
      stop.disabled = true;
      try { await api(`/api/jobs/${g.job.id}/cancel/`, { method: "POST" }); } catch (err) { showError(err.message); }
      refreshLists();
    });
    li.append(stop);
  } else {
    const again = document.createElement("button");
    again.type = "button"; again.className = "restore"; again.textContent = "Restore";
    again.title = "Fill the form with every setting of this generation";
    again.addEventListener("click", () => { restore(g); show(g.id, { chosen: true }); });
    li.append(again);
  }
  return li;
}

async function refreshLists() {
  const [active, recent] = await Promise.all([api(`${root.dataset.listApi}?active=1&limit=50`), api(`${root.dataset.listApi}?limit=20`)]);
  const queue = document.getElementById("queue");
  queue.replaceChildren(...(active.results.length ? active.results.map(listItem) : [Object.assign(document.createElement("li"), { className: "muted empty", textContent: "nothing waiting" })]));
  const history = document.getElementById("history");
  const past = recent.results.filter((g) => g.ranked || FINISHED.includes(g.state));
  history.replaceChildren(...(past.length ? past.map(listItem) : [Object.assign(document.createElement("li"), { className: "muted empty", textContent: "no generations yet" })]));
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  showError("");
  try {
    choose(await api(root.dataset.api, { method: "POST", body: JSON.stringify(settingsFromForm()) }));
    refreshLists();
  } catch (err) { showError(err.message); }
});

document.getElementById("run-batch").addEventListener("click", async () => {
  showError("");
  const body = settingsFromForm();
  delete body.prompt;
  body.prompts = document.getElementById("batch-prompts").value;
  try {
    const out = await api(root.dataset.batchApi, { method: "POST", body: JSON.stringify(body) });
    if (out.generations.length) choose(out.generations[0]);
    refreshLists();
  } catch (err) { showError(err.message); }
});

document.getElementById("candidates").addEventListener("click", (event) => {
  const el = event.target.closest(".candidate");
  if (!el) return;
  const index = Number(el.dataset.index);
  if (selected.has(index)) selected.delete(index); else selected.add(index);
  el.classList.toggle("selected", selected.has(index));
  document.getElementById("save-selected").disabled = selected.size === 0;
});

// "Save to" offers the collection last saved into (remembered by this browser), not the first by name.
const LAST_COLLECTION = "atelier.studio.saveCollection";
const saveTo = document.getElementById("save-collection");
const remembered = localStorage.getItem(LAST_COLLECTION);
if (remembered && saveTo.querySelector(`option[value="${CSS.escape(remembered)}"]`)) saveTo.value = remembered;

document.getElementById("save-selected").addEventListener("click", async () => {
  const collection = saveTo.value;
  const result = document.getElementById("save-result");
  try {
    const out = await api(`${root.dataset.listApi}${current.id}/save/`, { method: "POST", body: JSON.stringify({ collection: Number(collection), candidates: [...selected] }) });
    localStorage.setItem(LAST_COLLECTION, collection);
    result.textContent = `saved ${out.saved.length} image${out.saved.length === 1 ? "" : "s"}: `;
    for (const s of out.saved) {
      const link = document.createElement("a");
      link.href = `/photos/${s.photo}/`; link.textContent = `photo ${s.photo}`; link.className = "saved-photo";
      result.append(link, " ");
    }
    selected.clear();
    await show(current.id);
  } catch (err) { result.textContent = err.message; }
});

// A scored batch arrives with its candidates: they join the grid at once, without asking the API
// (a busy server answers late); other hints (a new preview, the end) re-read the generation.
function addBatch(job) {
  const known = new Set(current.candidates_list.map((c) => c.index));
  const fresh = job.detail.candidates.filter((c) => !known.has(c.index));
  const candidatesList = [...current.candidates_list, ...fresh].sort((a, b) => a.index - b.index);
  rendered = ++asks;   // an answer asked before this event is older than it
  render({ ...current, job, state: job.state, candidates_list: candidatesList, sampled: candidatesList.length, preview: null });
}

document.addEventListener("atelier:job", (event) => {
  const job = event.detail;
  if (job.kind !== "generate") return;
  if (current && current.job.id === job.id) {
    if (job.detail?.generation === current.id && !current.ranked) addBatch(job); else show(current.id);
  }
  refreshLists();
});

// Safety net for lost websocket hints: re-read the shown generation while it is unfinished.
setInterval(() => {
  if (current && !document.hidden && !current.ranked && !FINISHED.includes(current.state)) show(current.id);
}, 3000);

const restoreId = new URLSearchParams(location.search).get("restore");
if (restoreId) {
  api(`${root.dataset.listApi}${restoreId}/`).then((g) => { restore(g); choose(g); }).catch((err) => showError(err.message));
}
refreshLists();
