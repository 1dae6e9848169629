// Browse a static STAC catalog from the page's folder: ../catalog.json -> child collections ->
// item links; a Leaflet map (vendored) of the selected day's COGs, tiled by the same server
// (../../tiles/, catalog/tiles.py). Only fetches on the same server; no CDN, no basemap.
"use strict";

const TILES = new URL("../../tiles/", window.location.href).href;
// Map layers: asset key -> name in the layer switcher.
const LAYERS = { soil_moisture: "Soil moisture", qa: "QA flags", uncertainty: "Uncertainty (1 sigma)" };
const UNITS = "m³/m³";

async function fetchJson(url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return response.json();
}

function links(object, rel, base) {
  return (object.links || []).filter((l) => l.rel === rel).map((l) => new URL(l.href, base).href);
}

function element(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  for (const child of children) node.append(child);
  return node;
}

function percent(fraction) {
  return `${(100 * fraction).toFixed(1)} %`;
}

function sizeText(bytes) {
  return bytes === undefined ? "" : ` (${(bytes / 1024).toFixed(1)} KiB)`;
}

function itemDay(item) {
  const p = item.properties;
  return (p.start_datetime || p.datetime || "").slice(0, 10);
}

function units(text) {
  return String(text).replaceAll("m3/m3", UNITS);
}

// ---- item cards -------------------------------------------------------------------------

function propertyRows(item) {
  const p = item.properties;
  const rows = [
    ["model", `${p["smprod:model_name"]} v${p["smprod:model_version"]}`],
    ["training", (p["smprod:training_mode"] || "near-real-time") + (p["smprod:training_window"] ? ` (${p["smprod:training_window"].join("..")})` : "")],
    ["IMERG run", p["smprod:precip_run"]],
    ["SMAP", `${p["smprod:coarse_product"]} ${p["smprod:smap_release"]}`],
    ["revision", `${p["smprod:revision"] ?? 1}` + (p["smprod:reprocessed"] ? ` (reprocessed: ${(p["smprod:reprocessing"] || []).join(", ")})` : "")],
  ];
  for (const [flag, fraction] of Object.entries(p["smprod:qa_fractions"] || {})) rows.push([`QA ${flag}`, percent(fraction)]);
  const table = element("table", { class: "properties" });
  for (const [name, value] of rows) {
    const row = element("tr", {}, element("td", {}, name), element("td", {}, String(value)));
    if (name === "revision" && p["smprod:reprocessed"]) row.classList.add("reprocessed");
    table.append(row);
  }
  return table;
}

function assetList(item, itemUrl) {
  const list = element("ul", { class: "assets" });
  for (const [key, asset] of Object.entries(item.assets)) {
    const link = element("a", { href: new URL(asset.href, itemUrl).href, "data-asset": key }, units(asset.title || key));
    list.append(element("li", {}, link, sizeText(asset["file:size"])));
  }
  return list;
}

function itemCard(entry, browser) {
  const { item, url } = entry;
  const card = element("article", { class: "item", "data-item-id": item.id });
  const day = itemDay(item);
  card.append(element("h3", {}, day));
  const thumb = item.assets.thumbnail;
  if (thumb) {
    card.append(element("img", {
      class: "thumbnail", src: new URL(thumb.href, url).href, alt: `soil moisture ${day}`,
      title: units(thumb.title || "thumbnail"),
    }));
  }
  card.append(propertyRows(item), assetList(item, url));
  const actions = element("p", { class: "actions" });
  const onMap = element("button", { type: "button", class: "on-map" }, "show on map");
  onMap.addEventListener("click", () => browser.selectItem(item.id, true));
  const details = element("button", { type: "button", class: "item-details" }, "details");
  details.addEventListener("click", () => browser.showItem(item.id));
  actions.append(onMap, " ", details);
  card.append(actions);
  return card;
}

// ---- legends ----------------------------------------------------------------------------

function continuousLegend(legend, title) {
  const box = element("div", { class: "legend continuous", "data-asset": legend.asset });
  box.append(element("p", { class: "legend-title" }, `${title} (${units(legend.units)})`));
  const bar = element("div", { class: "colour-bar" });
  bar.style.background = `linear-gradient(to right, ${legend.stops.join(", ")})`;
  const ticks = element("div", { class: "ticks" });
  const middle = (legend.min + legend.max) / 2;
  for (const value of [legend.min, middle, legend.max]) ticks.append(element("span", {}, `${value}`));
  box.append(bar, ticks, element("p", { class: "note" }, `fixed scale, ${legend.colormap}; no value: transparent`));
  return box;
}

function categoricalLegend(legend, fractions) {
  const box = element("div", { class: "legend categorical", "data-asset": legend.asset });
  box.append(element("p", { class: "legend-title" }, "QA flags"));
  const list = element("ul", {});
  for (const category of legend.categories) {
    const swatch = element("span", { class: "swatch" });
    swatch.style.background = category.colour;
    const share = fractions && category.name in fractions ? ` (${percent(fractions[category.name])})` : "";
    const code = category.value ? `bit ${Math.log2(category.value)}` : "0";
    list.append(element("li", { "data-flag": category.name }, swatch, `${category.name} [${code}]${share}`));
  }
  box.append(list, element("p", { class: "note" }, legend.note));
  return box;
}

function legendBox(legend, fractions) {
  return legend.type === "categorical" ? categoricalLegend(legend, fractions) : continuousLegend(legend, LAYERS[legend.asset]);
}

// ---- item panel -------------------------------------------------------------------------

function modelLinks(item) {
  const list = element("ul", { class: "model-links" });
  for (const link of (item.links || []).filter((l) => l.rel === "via")) {
    const web = /^https?:/.test(link.href);
    const target = web ? element("a", { href: link.href, class: "model-link" }, link.title || link.href) : element("code", {}, link.href);
    list.append(element("li", {}, target, web ? "" : ` (${link.title || "model"})`));
  }
  return list;
}

function provenanceSummary(record) {
  const rows = [
    ["day", record.day],
    ["model", `${record.model.name} v${record.model.version} (${record.model.kind}, ${record.model.training_mode || "near-real-time"}, run ${record.model.run_id})`],
    ["coarse product", `${record.coarse_product} ${record.smap_release}`],
    ["IMERG run", record.precip_run],
    ["inputs", Object.entries(record.inputs || {}).map(([k, v]) => `${k}: ${v.join(", ")}`).join("; ")],
    ["software", Object.entries(record.software || {}).map(([k, v]) => `${k} ${v}`).join(", ")],
    ["statistics", `mean ${record.statistics?.mean} ${UNITS}, valid ${percent(record.statistics?.valid_fraction ?? 0)}`],
    ["region", `${(record.region?.bbox || []).join(", ")} (${record.region?.crs}, ${record.region?.fine_km} km)`],
  ];
  const table = element("table", { class: "provenance" });
  for (const [name, value] of rows) table.append(element("tr", {}, element("th", {}, name), element("td", {}, String(value ?? ""))));
  return table;
}

async function itemPanel(entry, qaLegend) {
  const { item, url } = entry;
  const panel = element("div", { class: "panel", "data-item-id": item.id });
  const close = element("button", { type: "button", class: "close" }, "close");
  close.addEventListener("click", () => { document.getElementById("item-panel").hidden = true; });
  panel.append(close, element("h2", {}, `${itemDay(item)} (${item.id})`));
  panel.append(element("p", { class: "lineage" }, item.properties["processing:lineage"] || ""));
  panel.append(element("h3", {}, "Assets"), assetList(item, url));
  panel.append(element("h3", {}, "QA legend"), categoricalLegend(qaLegend, item.properties["smprod:qa_fractions"]));
  panel.append(element("h3", {}, "Model"), modelLinks(item));
  panel.append(element("h3", {}, "Provenance"));
  const provenance = item.assets.provenance;
  try {
    if (!provenance) throw new Error("no provenance asset");
    panel.append(provenanceSummary(await fetchJson(new URL(provenance.href, url).href)));
  } catch (error) {
    panel.append(element("p", { class: "error" }, `provenance not readable: ${error.message}`));
  }
  panel.append(element("p", {}, element("a", { href: url, class: "item-json" }, "raw item JSON")));
  return panel;
}

// ---- map --------------------------------------------------------------------------------

function formatValue(value) {
  return value === null || value === undefined ? "no value" : `${value.toFixed(4)} ${UNITS}`;
}

class Browser {
  constructor(entries, legends) {
    this.entries = entries;  // oldest day first
    this.legends = legends;
    this.index = entries.length - 1;
    this.asset = "soil_moisture";
    this.point = null;
  }

  get entry() { return this.entries[this.index]; }

  start() {
    document.getElementById("map-section").hidden = false;
    // No fade: a tile is drawn in its final colours at once (screenshots compare colours).
    this.map = L.map("map", { minZoom: 3, maxZoom: 16, fadeAnimation: false });
    this.map.attributionControl.setPrefix('<a href="https://leafletjs.com">Leaflet</a>');
    this.layers = {};
    const named = {};
    for (const [asset, name] of Object.entries(LAYERS)) {
      const layer = L.tileLayer(this.tileUrl(asset), { maxZoom: 16, opacity: 1, attribution: "smprod" });
      layer.asset = asset;
      layer.on("load", () => this.tilesLoaded(layer));
      layer.on("loading", () => { if (layer.asset === this.asset) delete document.getElementById("map").dataset.tiles; });
      this.layers[asset] = layer;
      named[name] = layer;
    }
    this.footprint = L.geoJSON(null, { style: { color: "#333", weight: 1, fill: false }, interactive: false }).addTo(this.map);
    this.selectIndex(this.index);  // the layers' bounds before their first tiles
    this.fit();
    this.layers[this.asset].addTo(this.map);
    L.control.layers(named, {}, { collapsed: false }).addTo(this.map);
    L.control.scale({ metric: true, imperial: false }).addTo(this.map);
    this.map.on("baselayerchange", (event) => this.selectAsset(event.layer.asset));
    this.map.on("click", (event) => this.readPoint(event.latlng));
    const slider = document.getElementById("day-slider");
    slider.max = String(this.entries.length - 1);
    slider.value = String(this.index);
    slider.addEventListener("input", () => this.selectIndex(Number(slider.value)));
    document.getElementById("show-item").addEventListener("click", () => this.showItem(this.entry.item.id));
  }

  tileUrl(asset) {
    const id = this.entry.item.id;
    return `${TILES}${encodeURIComponent(id)}/${asset}/{z}/{x}/{y}.png`;
  }

  fit() {
    const [west, south, east, north] = this.entry.item.bbox;
    this.bounds = L.latLngBounds([south, west], [north, east]);
    this.map.fitBounds(this.bounds);
  }

  tilesLoaded(layer) {
    if (layer.asset !== this.asset) return;
    document.getElementById("map").dataset.tiles = `${layer.asset}:${this.entry.item.id}`;
  }

  selectIndex(index) {
    this.index = index;
    const { item } = this.entry;
    document.getElementById("day-slider").value = String(index);
    document.getElementById("day-label").textContent = itemDay(item);
    document.body.dataset.day = itemDay(item);
    document.getElementById("map").dataset.itemId = item.id;
    this.footprint.clearLayers().addData(item.geometry);
    for (const [asset, layer] of Object.entries(this.layers)) {
      layer.options.bounds = L.latLngBounds(this.footprint.getBounds()).pad(0.01);  // no request off the item
      layer.setUrl(this.tileUrl(asset));
    }
    if (this.point) this.readPoint(this.point);
  }

  selectItem(id, scroll) {
    const index = this.entries.findIndex((e) => e.item.id === id);
    if (index < 0) return;
    this.selectIndex(index);
    if (scroll) document.getElementById("map-section").scrollIntoView();
  }

  selectAsset(asset) {
    this.asset = asset;
    document.getElementById("map").dataset.layer = asset;
    const legend = document.getElementById("legend");
    legend.replaceChildren(legendBox(this.legends[asset], this.entry.item.properties["smprod:qa_fractions"]));
    delete document.getElementById("map").dataset.tiles;
    if (this.layers[asset].isLoading && !this.layers[asset].isLoading()) this.tilesLoaded(this.layers[asset]);
  }

  async readPoint(latlng) {
    this.point = latlng;
    const panel = document.getElementById("point-value");
    const id = this.entry.item.id;
    const lon = latlng.lng.toFixed(6), lat = latlng.lat.toFixed(6);
    const url = `${TILES}point/${encodeURIComponent(id)}?lon=${lon}&lat=${lat}`;
    if (!this.marker) this.marker = L.circleMarker(latlng, { radius: 5, color: "#000", weight: 2, fill: false }).addTo(this.map);
    this.marker.setLatLng(latlng);
    try {
      const value = await fetchJson(url);
      if (id !== this.entry.item.id) return;  // the day changed meanwhile
      panel.replaceChildren(pointTable(value, itemDay(this.entry.item)));
      Object.assign(panel.dataset, { itemId: id, lon, lat });
      panel.dataset.soilMoisture = String(value.soil_moisture);
      panel.dataset.uncertainty = String(value.uncertainty);
      panel.dataset.qa = String(value.qa);
    } catch (error) {
      panel.replaceChildren(element("p", { class: "error" }, `no value: ${error.message}`));
    }
  }

  async showItem(id) {
    const entry = this.entries.find((e) => e.item.id === id);
    const container = document.getElementById("item-panel");
    container.replaceChildren(await itemPanel(entry, this.legends.qa));
    container.hidden = false;
    container.scrollIntoView();
  }
}

function degrees(lat, lon) {
  return `${Math.abs(lat).toFixed(4)}° ${lat < 0 ? "S" : "N"}, ${Math.abs(lon).toFixed(4)}° ${lon < 0 ? "W" : "E"}`;
}

function pointTable(value, day) {
  const table = element("table", { class: "point" });
  const flags = value.qa === null ? "no value" : (value.qa_flags.length ? value.qa_flags.join(", ") : "none") + ` (QA ${value.qa})`;
  const rows = value.inside ? [
    ["day", day],
    ["at", degrees(value.lat, value.lon)],
    ["soil moisture", formatValue(value.soil_moisture)],
    ["uncertainty", formatValue(value.uncertainty)],
    ["QA flags", flags],
  ] : [["day", day], ["at", degrees(value.lat, value.lon)], ["", "outside the product's region"]];
  for (const [name, text] of rows) table.append(element("tr", { "data-row": name }, element("th", {}, name), element("td", {}, text)));
  return table;
}

// ---- page -------------------------------------------------------------------------------

async function loadCollection(url, container) {
  const collection = await fetchJson(url);
  const section = element("section", { class: "collection", "data-collection-id": collection.id });
  section.append(element("h2", {}, collection.title || collection.id));
  section.append(element("p", {}, collection.description || ""));
  const interval = collection.extent?.temporal?.interval?.[0] || [];
  const versions = (collection.summaries?.["smprod:model_version"] || []).join(", ");
  section.append(element("p", { class: "summary" },
    `${interval[0] || "?"} to ${interval[1] || "?"}; model versions ${versions}; licence ${collection.license}`));
  const grid = element("div", { class: "items" });
  section.append(grid);
  container.append(section);
  const itemUrls = links(collection, "item", url);  // day order
  const items = await Promise.all(itemUrls.map((itemUrl) => fetchJson(itemUrl)));
  return { grid, entries: items.map((item, i) => ({ item, url: itemUrls[i] })) };
}

async function loadLegends() {
  const legends = {};
  for (const asset of Object.keys(LAYERS)) legends[asset] = await fetchJson(`${TILES}legend/${asset}.json`);
  return legends;
}

async function main() {
  const status = document.getElementById("status");
  try {
    const catalogUrl = new URL("../catalog.json", window.location.href).href;
    const catalog = await fetchJson(catalogUrl);
    document.getElementById("catalog-title").textContent = catalog.title || catalog.id;
    const loaded = [];
    for (const child of links(catalog, "child", catalogUrl)) loaded.push(await loadCollection(child, document.getElementById("collections")));
    const entries = loaded.flatMap((l) => l.entries).sort((a, b) => itemDay(a.item).localeCompare(itemDay(b.item)));
    const browser = entries.length ? new Browser(entries, await loadLegends()) : null;
    for (const { grid, entries: own } of loaded) {
      for (const entry of [...own].reverse()) grid.append(itemCard(entry, browser));  // newest day first
    }
    if (browser) {
      browser.start();
      browser.selectAsset(browser.asset);
    }
    status.textContent = `${entries.length} item(s)`;
    document.body.dataset.loaded = "true";
  } catch (error) {
    status.textContent = `Could not load the catalog: ${error.message}`;
    status.classList.add("error");
    document.body.dataset.loaded = "error";
  }
}

main();
