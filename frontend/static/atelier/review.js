// Review of tag suggestions: a grid, most uncertain first; keyboard a/r/u and arrows; bulk accept; undo.
const root = document.getElementById("review");
const grid = document.getElementById("review-grid");
const statusEl = document.getElementById("review-status");
const undoBtn = document.getElementById("undo");
const csrf = document.querySelector('meta[name="csrf-token"]')?.content;
let items = [];
let cursor = 0;
const undoStack = [];

async function api(url, options = {}) {
  const res = await fetch(url, {
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRFToken": csrf },
    ...options,
  });
  const data = res.status === 204 ? {} : await res.json();
  if (!res.ok) throw new Error(data.error || res.statusText);
  return data;
}

function say(text) { statusEl.textContent = text; }

async function load() {
  const tag = document.getElementById("review-tag").value;
  const params = new URLSearchParams({ limit: "200" });
  if (tag) params.set("tag", tag);
  const data = await api(`${root.dataset.suggestions}?${params}`);
  items = data.results;
  cursor = Math.min(cursor, Math.max(items.length - 1, 0));
  render();
  say(`${data.count} suggestions`);
}

function tile(item, index) {
  const el = document.createElement("figure");
  el.className = `tile review-tile state-${item.state}`;
  el.dataset.index = index;
  const img = document.createElement("img");
  img.loading = "lazy";
  img.alt = item.tag_name;
  img.src = root.dataset.thumb.replace("987654321", item.photo);
  const caption = document.createElement("figcaption");
  caption.textContent = `${item.tag_name} · ${item.confidence?.toFixed(3)}`;
  el.append(img, caption);
  el.addEventListener("click", () => { cursor = index; highlight(); });
  return el;
}

function render() {
  grid.replaceChildren(...items.map(tile));
  document.getElementById("review-empty").hidden = items.length > 0;
  highlight();
}

function highlight() {
  grid.querySelectorAll(".review-tile").forEach((el) => el.classList.toggle("current", Number(el.dataset.index) === cursor));
  grid.querySelector(".current")?.scrollIntoView({ block: "nearest" });
}

async function decide(chosen, state) {
  if (!chosen.length) return;
  const before = chosen.map((item) => ({ id: item.id, state: item.state }));
  await api(root.dataset.decisions, { method: "POST", body: JSON.stringify({ ids: chosen.map((i) => i.id), state }) });
  chosen.forEach((item) => { item.state = state; });
  undoStack.push(before);
  undoBtn.disabled = false;
  render();
  say(`${state} ${chosen.length}`);
}

async function undo() {
  const last = undoStack.pop();
  if (!last) return;
  const byState = new Map();
  last.forEach(({ id, state }) => byState.set(state, [...(byState.get(state) || []), id]));
  for (const [state, ids] of byState) {
    await api(root.dataset.decisions, { method: "POST", body: JSON.stringify({ ids, state }) });
    items.filter((i) => ids.includes(i.id)).forEach((i) => { i.state = state; });
  }
  const first = items.findIndex((i) => i.id === last[0].id);
  if (first >= 0) cursor = first;  // back to what was undone
  undoBtn.disabled = undoStack.length === 0;
  render();
  say("undone");
}

function columns() {
  const tiles = grid.querySelectorAll(".review-tile");
  if (tiles.length < 2) return 1;
  const top = tiles[0].offsetTop;
  let n = 0;
  while (n < tiles.length && tiles[n].offsetTop === top) n += 1;
  return Math.max(n, 1);
}

function move(delta) {
  cursor = Math.min(Math.max(cursor + delta, 0), Math.max(items.length - 1, 0));
  highlight();
}

document.addEventListener("keydown", (event) => {
  if (event.target.matches("input, select, textarea") || event.ctrlKey || event.metaKey || event.altKey) return;
  const current = items[cursor];
  const keys = {
    ArrowRight: () => move(1), ArrowLeft: () => move(-1),
    ArrowDown: () => move(columns()), ArrowUp: () => move(-columns()),
    a: () => current && decide([current], "accepted").then(() => move(1)),
    r: () => current && decide([current], "rejected").then(() => move(1)),
    u: () => undo(),
  };
  if (keys[event.key]) {
    event.preventDefault();
    Promise.resolve(keys[event.key]()).catch((err) => say(err.message));
  }
});

document.getElementById("bulk-accept").addEventListener("click", () => {
  const min = Number(document.getElementById("bulk-min").value);
  const chosen = items.filter((i) => i.state === "suggested" && i.confidence >= min);
  decide(chosen, "accepted").catch((err) => say(err.message));
});
undoBtn.addEventListener("click", () => undo().catch((err) => say(err.message)));
document.getElementById("review-tag").addEventListener("change", () => { cursor = 0; load().catch((err) => say(err.message)); });

// A tagging job's live bar; the suggestions are re-read when it ends.
async function follow(job) {
  const bar = document.getElementById("tagging-progress");
  bar.hidden = false;
  root.dataset.taggingState = "running";
  const j = await api(`/api/jobs/${job}/`);
  bar.max = j.total || 1; bar.value = j.done;
  say(`tagging: ${j.done}/${j.total} ${j.message || ""}`);
  if (j.state === "queued" || j.state === "running") { setTimeout(() => follow(job).catch((err) => say(err.message)), 1000); return; }
  bar.hidden = true;
  root.dataset.taggingState = j.state;
  if (j.error) say(`tagging ${j.state}: ${j.error}`);
  await load();
}

document.getElementById("run-tagging").addEventListener("click", async () => {
  try {
    const { job } = await api(root.dataset.tagging, { method: "POST", body: JSON.stringify({ force: false }) });
    if (!job) { say("everything is tagged already"); return; }
    follow(job);
  } catch (err) { say(err.message); }
});
if (root.dataset.job) follow(root.dataset.job).catch((err) => say(err.message));

load().catch((err) => say(err.message));
