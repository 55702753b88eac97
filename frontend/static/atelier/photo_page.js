// The photo page: the same panel as the lightbox (editable title and caption, facts, tags).
import { fillPanel } from "./photo_panel.js";

const panel = document.getElementById("photo-panel");
fillPanel(panel, panel.dataset.photo, { onPhotoPage: true }).catch(() => { /* the server-rendered facts stay */ });
