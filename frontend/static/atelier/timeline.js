// The photo timeline: pages of the photo list API (keyset cursors) appended as the reader scrolls,
// grouped by day (or by first letter when sorted by title), with a month index to jump through.
// The sort and the month jumped to live in the URL, so a reload or a shared link shows the same.
import { photoTile } from "./tiles.js";

const root = document.getElementById("timeline");
const groups = document.getElementById("photo-grid");
const monthNav = document.getElementById("month-index");
const countLine = document.getElementById("photo-count");
const endLine = document.getElementById("timeline-end");
const sortSelect = document.getElementById("timeline-sort");
const PAGE = 400;
const AHEAD = 1600; // px below the viewport at which the next page is fetched

const params = new URLSearchParams(location.search);
const state = { tags: params.getAll("tag"), sort: params.get("sort") || "taken", cursor: null, done: false, loading: null, index: 0, generation: 0, shown: new Set() };
sortSelect.value = state.sort;

function listUrl(base, extra) {
  const query = new URLSearchParams(extra);
  if (root.dataset.collection) query.set("collection", root.dataset.collection);
  query.set("sort", state.sort);
  state.tags.forEach((t) => query.append("tag", t));
  return `${base}?${query}`;
}

const DAY = new Intl.DateTimeFormat(undefined, { weekday: "short", day: "numeric", month: "long", year: "numeric", timeZone: "UTC" });
const MONTH = new Intl.DateTimeFormat(undefined, { month: "long", year: "numeric", timeZone: "UTC" });
const SHORT_MONTH = new Intl.DateTimeFormat(undefined, { month: "short", timeZone: "UTC" });

function groupOf(photo) {
  if (state.sort === "title") {
    const first = (photo.title || photo.filename || "?").trim().charAt(0).toUpperCase();
    return { key: first, label: first };
  }
  const stamp = state.sort === "added" ? photo.created_at : photo.shown_at;
  const day = stamp.slice(0, 10);
  return { key: day, label: DAY.format(new Date(`${day}T00:00:00Z`)) };
}

function groupFor(photo) {
  const { key, label } = groupOf(photo);
  const last = groups.lastElementChild;
  if (last && last.dataset.group === key) return last.querySelector(".grid");
  const section = document.createElement("section");
  section.className = "day-group";
  section.dataset.group = key;
  const heading = document.createElement("h2");
  heading.textContent = label;
  const grid = document.createElement("div");
  grid.className = "grid";
  section.append(heading, grid);
  groups.append(section);
  return grid;
}

function render(photos) {
  for (const photo of photos) {
    if (state.shown.has(photo.id) || groups.querySelector(`.day-group[data-group="new"] .tile[data-photo="${photo.id}"]`)) continue; // never twice
    state.shown.add(photo.id);
    const tile = photoTile(photo);
    tile.dataset.index = state.index++;
    groupFor(photo).append(tile);
  }
}

async function loadMore() {
  if (state.done) return;
  if (state.loading) return state.loading;
  const generation = state.generation;
  const extra = { limit: PAGE };
  if (state.cursor) extra.cursor = state.cursor;
  state.loading = (async () => {
    const res = await fetch(listUrl(root.dataset.api, extra), { headers: { Accept: "application/json" } });
    const body = await res.json();
    if (generation !== state.generation) return; // a jump or a new sort started meanwhile
    if (!res.ok) { endLine.textContent = Object.values(body).flat().join(" ") || "Could not load photos."; state.done = true; return; }
    if (body.count !== null) state.count = body.count;
    countLine.textContent = `${(state.count ?? 0).toLocaleString()} photo${state.count === 1 ? "" : "s"}`;
    render(body.results);
    state.cursor = body.next_cursor;
    state.done = !body.next_cursor;
    if (state.done) endLine.textContent = state.count ? "" : "No photos yet.";
    groups.dataset.loaded = state.index;
  })();
  try { await state.loading; } finally { state.loading = null; }
  if (!state.done && nearEnd()) loadMore();
}

function nearEnd() {
  return endLine.getBoundingClientRect().top < innerHeight + AHEAD;
}

function restart(cursor) {
  state.generation++;
  state.cursor = cursor;
  state.done = false;
  state.loading = null;
  state.index = 0;
  state.shown.clear();
  groups.replaceChildren();
  endLine.textContent = "";
  return loadMore();
}

function saveUrl() {
  const url = new URL(location.href);
  url.searchParams.set("sort", state.sort);
  const month = monthNav.querySelector("[aria-current=true]")?.dataset.month;
  if (month) url.searchParams.set("month", month); else url.searchParams.delete("month");
  url.searchParams.delete("tag");
  state.tags.forEach((t) => url.searchParams.append("tag", t));
  history.replaceState(null, "", url);
}

let monthsAsked = 0;
async function loadMonths() {
  const asked = ++monthsAsked;
  monthNav.replaceChildren();
  if (state.sort === "title") { monthNav.hidden = true; return []; }
  const res = await fetch(listUrl(root.dataset.months, {}), { headers: { Accept: "application/json" } });
  if (!res.ok) return [];
  const { months } = await res.json();
  if (asked !== monthsAsked) return [];  // a newer filter or sort asked meanwhile: only its months are shown
  state.count = months.reduce((sum, m) => sum + m.count, 0); // a jump's first page comes without a count
  monthNav.hidden = months.length < 2;
  let year = null;
  for (const m of months) {
    if (m.month.slice(0, 4) !== year) {
      year = m.month.slice(0, 4);
      const label = document.createElement("span");
      label.className = "month-year";
      label.textContent = year;
      monthNav.append(label);
    }
    const button = document.createElement("button");
    button.type = "button";
    button.className = "month";
    button.dataset.month = m.month;
    button.dataset.cursor = m.cursor;
    const date = new Date(`${m.month}-01T00:00:00Z`);
    button.textContent = SHORT_MONTH.format(date);
    button.title = `${MONTH.format(date)}: ${m.count.toLocaleString()} photo${m.count === 1 ? "" : "s"}`;
    button.setAttribute("aria-label", button.title);
    monthNav.append(button);
  }
  return months;
}

monthNav.addEventListener("click", (event) => {
  const button = event.target.closest("button.month");
  if (!button) return;
  jumpTo(button);
  saveUrl();
  root.scrollIntoView({ block: "start" });
});

function jumpTo(button) {
  monthNav.querySelectorAll("[aria-current]").forEach((b) => b.removeAttribute("aria-current"));
  button.setAttribute("aria-current", "true");
  return restart(button.dataset.cursor);
}

// Tag chips filter the timeline (any of the checked tags); the choice lives in the URL.
document.getElementById("tag-chips")?.addEventListener("change", async (event) => {
  state.tags = [...event.currentTarget.querySelectorAll("input[name=tag]:checked")].map((i) => i.value);
  await loadMonths();
  saveUrl();
  restart(null);
});

sortSelect.addEventListener("change", async () => {
  state.sort = sortSelect.value;
  await loadMonths();
  saveUrl();
  restart(null);
});

addEventListener("scroll", () => { if (!state.loading && !state.done && nearEnd()) loadMore(); }, { passive: true });
new IntersectionObserver((entries) => { if (entries.some((e) => e.isIntersecting)) loadMore(); },
  { rootMargin: `0px 0px ${AHEAD}px 0px` }).observe(endLine);

async function start() {
  const months = await loadMonths();
  const wanted = params.get("month") && monthNav.querySelector(`button.month[data-month="${params.get("month")}"]`);
  if (wanted && months.length) await jumpTo(wanted); else await restart(null);
  document.body.dataset.timeline = "ready";
}

document.addEventListener("atelier:photos-removed", (event) => {
  state.count = Math.max(0, (state.count ?? 0) - event.detail);
  countLine.textContent = `${state.count.toLocaleString()} photo${state.count === 1 ? "" : "s"}`;
});

document.addEventListener("atelier:need-more", (event) => event.detail.push(loadMore()));

start();
export { loadMore };
