// Search results page: more pages as you scroll, and drop a photo anywhere to search by it.
const root = document.getElementById("search-page");
const csrf = document.querySelector('meta[name="csrf-token"]').content;
const hint = document.getElementById("drop-hint");
const pageUrl = location.pathname;
const limit = Number(root.dataset.limit) || 20;

function filterParams() {
  const params = new URLSearchParams(location.search);
  ["q", "similar", "offset", "limit"].forEach((k) => params.delete(k));
  return params;
}

function tile(result) {
  const { photo, score } = result;
  const fig = document.createElement("figure");
  fig.className = "result tile";
  fig.dataset.photo = photo.id;
  const link = document.createElement("a");
  link.href = `/photos/${photo.id}/`;
  link.title = photo.title || photo.filename;
  if (photo.thumbs_ready) {
    const img = document.createElement("img");
    img.loading = "lazy";
    img.src = `${photo.thumbnail_url}?size=grid`;
    img.alt = photo.title || "";
    link.append(img);
  } else {
    const span = document.createElement("span");
    span.className = "tile-pending";
    span.textContent = photo.title || photo.filename;
    link.append(span);
  }
  const cap = document.createElement("figcaption");
  cap.innerHTML = `<span class="score" title="relevance: the CLIP similarity of the picture to your query (+0.05 when its title, caption or file name holds your words); results are ranked by it"></span> <a class="more-like">more like this</a>`;
  cap.querySelector(".score").textContent = score.toFixed(2);
  cap.querySelector(".more-like").href = `${pageUrl}?similar=${photo.id}`;
  fig.append(link, cap);
  return fig;
}

function grid() {
  let el = document.getElementById("search-results");
  if (!el) {
    el = document.createElement("div");
    el.id = "search-results";
    el.className = "grid";
    root.append(el);
  }
  return el;
}

function showError(message) {
  let el = document.getElementById("search-error");
  if (!el) {
    el = document.createElement("p");
    el.id = "search-error";
    el.className = "msg error";
    root.insertBefore(el, root.querySelector("#search-results"));
  }
  el.textContent = message;
}

// -- more results (button, and automatically when it scrolls into view) --------------------
const more = document.getElementById("search-more");
let loading = false;

async function loadMore() {
  if (!more || loading || more.hidden) return;
  loading = true;
  const params = filterParams();
  params.set("offset", more.dataset.offset);
  params.set("limit", limit);
  const similar = root.dataset.similar;
  const url = similar ? root.dataset.similarApi.replace("/0/", `/${similar}/`) : root.dataset.api;
  if (!similar) params.set("q", root.dataset.q);
  try {
    const response = await fetch(`${url}?${params}`, { headers: { Accept: "application/json" } });
    const body = await response.json();
    if (!response.ok) throw new Error(body.error || response.statusText);
    const target = grid();
    const shown = new Set([...target.querySelectorAll(".result")].map((el) => el.dataset.photo));
    body.results.filter((r) => !shown.has(String(r.photo.id))).forEach((r) => target.append(tile(r))); // never twice
    more.dataset.offset = Number(more.dataset.offset) + body.results.length;
    more.hidden = !body.has_more || body.results.length === 0;
  } catch (err) {
    showError(`Could not load more results: ${err.message}`);
  } finally {
    loading = false;
  }
}

document.addEventListener("atelier:need-more", (event) => event.detail.push(loadMore()));
if (more) {
  more.addEventListener("click", loadMore);
  new IntersectionObserver((entries) => { if (entries.some((e) => e.isIntersecting)) loadMore(); }).observe(more);
}

// -- drop a photo on the page to search by it ------------------------------------------------
async function searchByImage(file) {
  const form = new FormData();
  form.append("image", file);
  const params = filterParams();
  params.set("limit", limit);
  const response = await fetch(`${root.dataset.api}?${params}`, { method: "POST", body: form, headers: { "X-CSRFToken": csrf } });
  const body = await response.json();
  if (!response.ok) { showError(body.error || response.statusText); return; }
  document.querySelector("#search-page h1").textContent = `Photos like ${file.name}`;
  document.getElementById("no-good-match")?.remove();
  document.getElementById("search-error")?.remove();
  document.getElementById("search-meta")?.remove();
  if (more) more.hidden = true; // paging an uploaded image would mean sending it again: one page
  showQueryImage(file);
  document.querySelectorAll('input[name="q"]').forEach((input) => { input.value = ""; });
  root.dataset.q = "";
  const url = new URL(location.href);
  ["q", "similar", "offset"].forEach((k) => url.searchParams.delete(k));
  url.searchParams.set("image", file.name);
  history.pushState({ image: file.name }, "", url);
  const target = grid();
  target.replaceChildren(...body.results.map(tile));
  root.dataset.mode = "image";
}

function showQueryImage(file) {
  const figure = document.getElementById("query-image");
  const img = figure.querySelector("img");
  if (img.src.startsWith("blob:")) URL.revokeObjectURL(img.src);
  img.src = URL.createObjectURL(file);
  img.alt = `the photo searched by: ${file.name}`;
  figure.querySelector("figcaption").textContent = file.name;
  figure.hidden = false;
}

document.getElementById("image-input").addEventListener("change", (event) => {
  const file = event.target.files[0];
  if (file) searchByImage(file);
  event.target.value = "";
});
// Back from an image search: the page it came from (an image cannot live in a URL).
addEventListener("popstate", () => location.reload());

document.addEventListener("dragover", (e) => {
  if ([...e.dataTransfer.types].includes("Files")) { e.preventDefault(); hint.hidden = false; }
});
document.addEventListener("dragleave", (e) => { if (!e.relatedTarget) hint.hidden = true; });
document.addEventListener("drop", (e) => {
  const file = [...(e.dataTransfer?.files || [])].find((f) => f.type.startsWith("image/"));
  if (!file) return;
  e.preventDefault();
  hint.hidden = true;
  searchByImage(file);
});
root.dataset.ready = "1";
