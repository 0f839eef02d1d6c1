/// The web dashboard served at `GET /` of the HTTP listener: one self-contained page (no
/// outside network) that polls `/status` and shows the server, its functions and its workers.
///
/// Other servers can be shown beside this one with `?servers=host:port,host:port`, naming
/// their HTTP listeners; their `/status` must allow the page's origin (it sends
/// `Access-Control-Allow-Origin: *`).
///
/// The page names an empty `data:` icon so that browsers do not request `/favicon.ico`. The
/// gateway would run that request as a job of the function `favicon.ico`, which waits for a
/// worker, keeps the browser's request open and appears in the page's own function table.
enum DashboardPage {
    static let html = #"""
        <!DOCTYPE html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>Gearman job server</title>
        <link rel="icon" href="data:,">
        <style>
          :root { --fg: #1d2330; --muted: #667085; --line: #e4e7ec; --accent: #2563eb; --bad: #b42318; }
          * { box-sizing: border-box; }
          body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg); background: #f7f8fa; }
          header { display: flex; align-items: baseline; gap: 16px; padding: 14px 24px; background: #fff; border-bottom: 1px solid var(--line); }
          header h1 { margin: 0; font-size: 18px; }
          header .refresh { color: var(--muted); margin-left: auto; }
          main { padding: 20px 24px; display: grid; gap: 20px; }
          section { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 14px 16px; }
          section h2 { margin: 0 0 10px; font-size: 15px; }
          .servers { display: grid; grid-template-columns: repeat(auto-fill, minmax(240px, 1fr)); gap: 12px; }
          .server { border: 1px solid var(--line); border-radius: 6px; padding: 10px 12px; }
          .server .name { font-weight: 600; }
          .server .down { color: var(--bad); }
          .figures { display: flex; gap: 14px; color: var(--muted); margin-top: 4px; flex-wrap: wrap; }
          .figures b { color: var(--fg); }
          table { width: 100%; border-collapse: collapse; }
          th, td { text-align: left; padding: 6px 8px; border-bottom: 1px solid var(--line); white-space: nowrap; }
          th { color: var(--muted); font-weight: 600; cursor: pointer; user-select: none; }
          th.sorted::after { content: " \25BE"; }
          th.sorted.ascending::after { content: " \25B4"; }
          td.number, th.number { text-align: right; font-variant-numeric: tabular-nums; }
          tr.busy td:first-child { box-shadow: inset 3px 0 0 var(--accent); }
          .empty { color: var(--muted); }
          #error { color: var(--bad); }
        </style>
        </head>
        <body>
        <header>
          <h1>Gearman job server</h1>
          <span id="error" role="status"></span>
          <span class="refresh">refreshed <span id="refreshed">never</span> · every <span id="interval">2</span> s</span>
        </header>
        <main>
          <section>
            <h2>Servers</h2>
            <div class="servers" id="servers"></div>
          </section>
          <section>
            <h2>Functions</h2>
            <table id="functions">
              <thead><tr>
                <th data-key="server">Server</th>
                <th data-key="name">Function</th>
                <th data-key="high" class="number">High</th>
                <th data-key="normal" class="number">Normal</th>
                <th data-key="low" class="number">Low</th>
                <th data-key="running" class="number">Running</th>
                <th data-key="workers" class="number">Workers</th>
              </tr></thead>
              <tbody></tbody>
            </table>
          </section>
          <section>
            <h2>Workers</h2>
            <table id="workers">
              <thead><tr>
                <th data-key="server">Server</th>
                <th data-key="address">Address</th>
                <th data-key="client_id">Client ID</th>
                <th data-key="functions">Functions</th>
              </tr></thead>
              <tbody></tbody>
            </table>
          </section>
        </main>
        <script>
        "use strict";
        const parameters = new URLSearchParams(location.search);
        const refreshSeconds = Math.max(0.5, Number(parameters.get("refresh")) || 2);
        const servers = [{ label: location.host, url: "/status" }].concat(
          (parameters.get("servers") || "").split(",").map(s => s.trim()).filter(Boolean)
            .map(s => ({ label: s, url: "http://" + s + "/status" })));
        const sorting = { functions: { key: "name", ascending: true }, workers: { key: "address", ascending: true } };
        let latest = [];

        function element(tag, text, className) {
          const node = document.createElement(tag);
          if (text !== undefined) node.textContent = String(text);
          if (className) node.className = className;
          return node;
        }

        function formatUptime(seconds) {
          const s = Math.floor(seconds), d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600), m = Math.floor(s % 3600 / 60);
          return (d ? d + "d " : "") + (d || h ? h + "h " : "") + m + "m " + (s % 60) + "s";
        }

        function compare(key, ascending) {
          return (a, b) => {
            const x = a[key], y = b[key];
            const order = typeof x === "number" && typeof y === "number" ? x - y : String(x).localeCompare(String(y));
            return ascending ? order : -order;
          };
        }

        function renderServers() {
          const box = document.getElementById("servers");
          box.replaceChildren(...latest.map(({ server, status, error }) => {
            const card = element("div", undefined, "server");
            card.append(element("div", server.label, "name"));
            if (error) {
              card.append(element("div", "unreachable: " + error, "down"));
              return card;
            }
            const figures = element("div", undefined, "figures");
            const queued = status.functions.reduce((sum, f) => sum + f.queued.high + f.queued.normal + f.queued.low, 0);
            const running = status.functions.reduce((sum, f) => sum + f.running, 0);
            for (const [name, value] of [["version", status.version], ["uptime", formatUptime(status.uptime_seconds)],
                                         ["connections", status.connections], ["queued", queued], ["running", running]]) {
              const item = element("span", name + " ");
              item.append(element("b", value));
              figures.append(item);
            }
            card.append(figures);
            return card;
          }));
        }

        function renderTable(id, rows, columns) {
          const { key, ascending } = sorting[id];
          const table = document.getElementById(id);
          for (const header of table.querySelectorAll("th")) {
            header.classList.toggle("sorted", header.dataset.key === key);
            header.classList.toggle("ascending", header.dataset.key === key && ascending);
          }
          const body = table.querySelector("tbody");
          if (rows.length === 0) {
            const row = element("tr");
            const cell = element("td", "none", "empty");
            cell.colSpan = columns.length;
            row.append(cell);
            body.replaceChildren(row);
            return;
          }
          body.replaceChildren(...rows.sort(compare(key, ascending)).map(item => {
            const row = element("tr", undefined, item.running > 0 ? "busy" : "");
            for (const column of columns) {
              row.append(element("td", item[column], typeof item[column] === "number" ? "number" : ""));
            }
            return row;
          }));
        }

        function render() {
          renderServers();
          const functions = [], workers = [];
          for (const { server, status } of latest) {
            if (!status) continue;
            for (const f of status.functions) {
              functions.push({ server: server.label, name: f.name, high: f.queued.high, normal: f.queued.normal,
                               low: f.queued.low, running: f.running, workers: f.workers });
            }
            for (const w of status.workers) {
              if (w.functions.length === 0) continue;
              workers.push({ server: server.label, address: w.address, client_id: w.client_id, functions: w.functions.join(" ") });
            }
          }
          renderTable("functions", functions, ["server", "name", "high", "normal", "low", "running", "workers"]);
          renderTable("workers", workers, ["server", "address", "client_id", "functions"]);
        }

        async function refresh() {
          latest = await Promise.all(servers.map(async server => {
            try {
              const response = await fetch(server.url, { cache: "no-store" });
              if (!response.ok) throw new Error("HTTP " + response.status);
              return { server, status: await response.json() };
            } catch (error) {
              return { server, error: error.message };
            }
          }));
          const failed = latest.filter(item => item.error).length;
          document.getElementById("error").textContent = failed ? failed + " server(s) unreachable" : "";
          document.getElementById("refreshed").textContent = new Date().toLocaleTimeString();
          render();
        }

        for (const id of Object.keys(sorting)) {
          document.getElementById(id).querySelector("thead").addEventListener("click", event => {
            const key = event.target.dataset && event.target.dataset.key;
            if (!key) return;
            const current = sorting[id];
            sorting[id] = { key, ascending: current.key === key ? !current.ascending : true };
            render();
          });
        }
        document.getElementById("interval").textContent = refreshSeconds;
        refresh();
        setInterval(refresh, refreshSeconds * 1000);
        </script>
        </body>
        </html>
        """#
}
