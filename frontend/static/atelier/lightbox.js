// The lightbox: a click on a photo of the current list (timeline, collection or search results)
// opens it large over the page; ← and → walk the list (loading more of a timeline at its end),
// Esc or the close button returns to the list where it was.
import { fillPanel } from "./photo_panel.js";

const box = document.getElementById("lightbox");
const image = document.getElementById("lightbox-image");
const panel = document.getElementById("lightbox-panel");
const scope = document.querySelector(box.dataset.scope);
const ITEM = ".tile[data-photo]";
let current = null;

const items = () => [...scope.querySelectorAll(ITEM)];

function show(item) {
  current = item;
  const id = item.dataset.photo;
  box.dataset.photo = id;
  image.src = `/api/photos/${id}/thumbnail/?size=large`;
  image.onload = () => image.classList.toggle("pixelated", image.naturalWidth <= 256 && image.naturalHeight <= 256); // small pictures: crisp pixels
  image.alt = item.title || `photo ${id}`;
  const list = items();
  const at = list.indexOf(item);
  document.getElementById("lightbox-position").textContent = `${at + 1} of ${list.length.toLocaleString()}${scope.dataset.more === "1" ? "+" : ""}`;
  document.getElementById("lightbox-prev").disabled = at <= 0;
  fillPanel(panel, id).catch((err) => { panel.textContent = err.message; });
  if (!box.open) box.showModal();
}

async function step(delta) {
  if (!current) return;
  let list = items();
  let at = list.indexOf(current) + delta;
  if (at >= list.length) {  // at the end of what is loaded: ask the list for more
    const loading = []; // the list's own module adds the promise of its next page
    document.dispatchEvent(new CustomEvent("atelier:need-more", { detail: loading }));
    await Promise.all(loading);
    list = items();
  }
  at = Math.min(Math.max(at, 0), list.length - 1);
  if (list[at] && list[at] !== current) show(list[at]);
}

scope.addEventListener("click", (event) => {
  const link = event.target.closest(`${ITEM} a`);
  if (!link || event.defaultPrevented || event.ctrlKey || event.metaKey || event.shiftKey || event.button !== 0) return;
  if (link.closest(".more-like") || link.classList.contains("more-like")) return;
  event.preventDefault();
  show(link.closest(ITEM));
});

box.addEventListener("keydown", (event) => {
  if (event.target.matches("input, textarea, select")) return;
  if (event.key === "ArrowRight") { event.preventDefault(); step(1); }
  if (event.key === "ArrowLeft") { event.preventDefault(); step(-1); }
});
document.getElementById("lightbox-next").addEventListener("click", () => step(1));
document.getElementById("lightbox-prev").addEventListener("click", () => step(-1));
document.getElementById("lightbox-close").addEventListener("click", () => box.close());
box.addEventListener("close", () => {
  current?.querySelector("a")?.focus({ preventScroll: false });
  current?.scrollIntoView({ block: "nearest" });
  current = null;
});
// A title edited in the lightbox shows on its tile at once.
box.addEventListener("atelier:photo-changed", (event) => {
  if (event.detail.title !== undefined && current) current.title = event.detail.title;
});
