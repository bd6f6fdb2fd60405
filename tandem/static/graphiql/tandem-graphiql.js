// Tandem's own GraphiQL page script (the rest of this folder is vendored: see VENDORED.md).
// Queries and mutations are POSTed to this page's own address; subscriptions run over graphql-transport-ws on the
// same address's websocket. The Authorization header typed into GraphiQL's Headers editor goes with both: as an
// HTTP header, and in the websocket's connection_init payload (where tandem/ws.py reads it).
(function () {
  "use strict";

  var WELCOME = [
    "# Tandem's GraphQL API.",
    "#",
    "# Paste a bearer token into Headers (below):",
    '#   {"Authorization": "Bearer <token>"}',
    "# `tandem token --email <address>` prints one;",
    "# `tandem serve --demo` prints one per demo user.",
    "#",
    "# Run with Ctrl-Enter. Subscriptions run over",
    "# the websocket with the same token.",
    "",
    "{",
    "  me {",
    "    name",
    "    email",
    "  }",
    "}",
    "",
  ].join("\n");

  var here = new URL(window.location.href);
  here.search = "";
  here.hash = "";
  var endpoint = here.toString();
  here.protocol = here.protocol === "https:" ? "wss:" : "ws:";
  var socketEndpoint = here.toString();

  function authorizationOf(headers) {
    for (var name in headers || {}) {
      if (name.toLowerCase() === "authorization") {
        return String(headers[name]);
      }
    }
    return "";
  }

  // The Authorization value of the Headers editor's text; null while the text is not a JSON object.
  function authorizationIn(text) {
    try {
      var headers = JSON.parse(text || "{}");
      return headers && typeof headers === "object" ? authorizationOf(headers) : null;
    } catch (_) {
      return null;
    }
  }

  // The type of the operation a request runs: a small scan of the document's top level (comments and strings
  // blanked) instead of GraphiQL's parsed document, which lags behind the editor by a moment.
  function operationType(query, operationName) {
    var text = String(query || "").replace(/"""[\s\S]*?"""|"(?:[^"\\\n]|\\.)*"|#[^\n]*/g, " ");
    var tokens = /[{}()]|\b(query|mutation|subscription|fragment)\b\s*([_A-Za-z][_0-9A-Za-z]*)?/g;
    var operations = [];
    var depth = 0;
    var introduced = false; // a keyword at the top level: the next "{" opens its selection
    var match;
    while ((match = tokens.exec(text)) !== null) {
      var token = match[0];
      if (token === "{" || token === "(") {
        if (depth === 0 && token === "{") {
          if (!introduced) {
            operations.push({ type: "query", name: null }); // the shorthand query
          }
          introduced = false;
        }
        depth += 1;
      } else if (token === "}" || token === ")") {
        depth = Math.max(0, depth - 1);
      } else if (depth === 0) {
        introduced = true;
        if (match[1] !== "fragment") {
          operations.push({ type: match[1], name: match[2] || null });
        }
      }
    }
    var chosen = operationName
      ? operations.filter(function (operation) {
          return operation.name === operationName;
        })[0]
      : operations[0];
    return chosen ? chosen.type : "query";
  }

  function overHttp(params, headers) {
    var sent = Object.assign(
      { "Content-Type": "application/json", Accept: "application/graphql-response+json, application/json;q=0.9" },
      headers || {},
    );
    return fetch(endpoint, {
      method: "POST",
      headers: sent,
      body: JSON.stringify(params),
      credentials: "same-origin",
    }).then(function (response) {
      return response.json().catch(function () {
        throw new Error("The server answered " + response.status + " without a JSON body.");
      });
    });
  }

  // One websocket per token: a new token in the Headers editor opens a new socket (connection_init carries it).
  var socket = null;

  function socketFor(authorization) {
    if (socket && socket.authorization === authorization) {
      return socket.client;
    }
    if (socket) {
      socket.client.dispose();
    }
    var client = graphqlWs.createClient({
      url: socketEndpoint,
      lazy: true,
      retryAttempts: 0,
      connectionParams: authorization ? { authorization: authorization } : {},
    });
    socket = { authorization: authorization, client: client };
    return client;
  }

  function problem(error) {
    if (error instanceof Error) {
      return error;
    }
    if (Array.isArray(error)) {
      return { errors: error };
    }
    if (error && typeof error.code === "number") {
      // a CloseEvent: 4403 is a missing or refused token
      return new Error("The websocket closed: " + error.code + (error.reason ? " " + error.reason : ""));
    }
    return new Error(String(error));
  }

  function overSocket(params, headers) {
    var client = socketFor(authorizationOf(headers));
    return {
      subscribe: function (observer) {
        var dispose = client.subscribe(
          { query: params.query, variables: params.variables, operationName: params.operationName },
          {
            next: function (value) {
              observer.next(value);
            },
            error: function (error) {
              observer.error(problem(error));
            },
            complete: function () {
              observer.complete();
            },
          },
        );
        return { unsubscribe: dispose };
      },
    };
  }

  function fetcher(params, options) {
    var headers = (options && options.headers) || {};
    return operationType(params.query, params.operationName) === "subscription"
      ? overSocket(params, headers)
      : overHttp(params, headers);
  }

  function TandemGraphiQL() {
    // A new fetcher when the token changes makes GraphiQL introspect again, with the new token.
    var stored = window.localStorage.getItem("graphiql:headers");
    var state = React.useState(authorizationIn(stored) || "");
    var authorization = state[0];
    var setAuthorization = state[1];
    var current = React.useMemo(
      function () {
        return function (params, options) {
          return fetcher(params, options);
        };
      },
      [authorization],
    );
    return React.createElement(GraphiQL, {
      fetcher: current,
      defaultQuery: WELCOME,
      defaultHeaders: '{\n  "Authorization": "Bearer "\n}',
      defaultEditorToolsVisibility: "headers",
      isHeadersEditorEnabled: true,
      shouldPersistHeaders: true,
      onEditHeaders: function (text) {
        var found = authorizationIn(text);
        if (found !== null) {
          setAuthorization(found);
        }
      },
    });
  }

  ReactDOM.createRoot(document.getElementById("graphiql")).render(React.createElement(TandemGraphiQL));
})();
