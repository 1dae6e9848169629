// Browse a static STAC catalog from the page's folder: ../catalog.json -> child collections ->
// item links. Only relative fetches on the same server; no library, no CDN, no network beyond it.
"use strict";

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

function itemCard(item, itemUrl) {
  const p = item.properties;
  const card = element("article", { class: "item", "data-item-id": item.id });
  const day = (p.start_datetime || p.datetime || "").slice(0, 10);
  card.append(element("h3", {}, day));
  const thumb = item.assets.thumbnail;
  if (thumb) {
    card.append(element("img", {
      class: "thumbnail", src: new URL(thumb.href, itemUrl).href, alt: `soil moisture ${day}`,
      title: thumb.title || "thumbnail",
    }));
  }
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
  card.append(table);
  const list = element("ul", { class: "assets" });
  for (const [key, asset] of Object.entries(item.assets)) {
    const link = element("a", { href: new URL(asset.href, itemUrl).href, "data-asset": key }, asset.title || key);
    list.append(element("li", {}, link, sizeText(asset["file:size"])));
  }
  card.append(list);
  card.append(element("a", { href: itemUrl, class: "item-json" }, "item JSON"));
  return card;
}

async function showCollection(url, container) {
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
  const itemUrls = links(collection, "item", url).reverse();  // newest day first
  const items = await Promise.all(itemUrls.map((itemUrl) => fetchJson(itemUrl)));
  items.forEach((item, i) => grid.append(itemCard(item, itemUrls[i])));
  return items.length;
}

async function main() {
  const status = document.getElementById("status");
  try {
    const catalogUrl = new URL("../catalog.json", window.location.href).href;
    const catalog = await fetchJson(catalogUrl);
    document.getElementById("catalog-title").textContent = catalog.title || catalog.id;
    let count = 0;
    for (const child of links(catalog, "child", catalogUrl)) {
      count += await showCollection(child, document.getElementById("collections"));
    }
    status.textContent = `${count} item(s)`;
    document.body.dataset.loaded = "true";
  } catch (error) {
    status.textContent = `Could not load the catalog: ${error.message}`;
    status.classList.add("error");
    document.body.dataset.loaded = "error";
  }
}

main();
