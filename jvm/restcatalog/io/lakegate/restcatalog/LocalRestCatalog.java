package io.lakegate.restcatalog;

import jakarta.servlet.DispatcherType;
import jakarta.servlet.Filter;
import jakarta.servlet.FilterChain;
import jakarta.servlet.ServletException;
import jakarta.servlet.ServletRequest;
import jakarta.servlet.ServletResponse;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;

import org.apache.iceberg.CatalogUtil;
import org.apache.iceberg.catalog.Catalog;
import org.apache.iceberg.rest.RESTCatalogAdapter;
import org.apache.iceberg.rest.RESTCatalogServlet;
import org.eclipse.jetty.ee10.servlet.FilterHolder;
import org.eclipse.jetty.ee10.servlet.ServletContextHandler;
import org.eclipse.jetty.ee10.servlet.ServletHolder;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.SecureRandom;
import java.util.Base64;
import java.util.EnumSet;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * An Iceberg REST catalog server for tests and local trials: Iceberg's reference adapter and servlet (the ones
 * the Iceberg project tests its REST client against) in front of a JDBC catalog on a SQLite file, on
 * 127.0.0.1 only.
 *
 * <p>Arguments: {@code <port> <sqlite file> <warehouse URI> [<catalog property>=<value> ...]}, the properties
 * for the backing catalog's file IO (e.g. Iceberg's {@code S3FileIO} for a warehouse on S3; its keys come from
 * the AWS SDK's environment variables, never from arguments), and {@value #WAREHOUSE_NAME}{@code =<name>}:
 * a warehouse name every client must ask for ({@code GET /v1/config?warehouse=<name>}), as catalog services
 * serving several warehouses require.
 *
 * <p>Access: when the environment variable {@value #TOKEN_ENV} is set, every request must carry
 * {@code Authorization: Bearer <that token>}; when {@value #CLIENT_ENV} holds {@code client_id:client_secret},
 * {@code POST /v1/oauth/tokens} exchanges those OAuth2 client credentials (or a live token, for a refresh) for
 * an access token valid {@value #TOKEN_LIFETIME_S} s, and every other request must carry a live one. Refused
 * requests get 401 in the REST spec's or OAuth2's error form. No secret appears on the command line or in the
 * log.
 */
public final class LocalRestCatalog {

    /** The environment variable holding the bearer token every request must present (unset: no check). */
    public static final String TOKEN_ENV = "LAKEGATE_REST_CATALOG_TOKEN";
    /** The environment variable holding the OAuth2 client ({@code client_id:client_secret}) it issues tokens to. */
    public static final String CLIENT_ENV = "LAKEGATE_REST_CATALOG_CLIENT";
    /** The argument property naming the one warehouse this server serves (unset: any, or none asked for). */
    public static final String WAREHOUSE_NAME = "lakegate.warehouse-name";
    /** How long an issued access token is valid. */
    public static final long TOKEN_LIFETIME_S = 3600;

    private LocalRestCatalog() {}

    public static void main(String[] args) throws Exception {
        if (args.length < 3) {
            System.err.println("usage: LocalRestCatalog <port> <sqlite file> <warehouse URI> [<property>=<value> ...]");
            System.exit(2);
        }
        int port = Integer.parseInt(args[0]);
        Map<String, String> properties = new HashMap<>();
        properties.put("catalog-impl", "org.apache.iceberg.jdbc.JdbcCatalog");
        properties.put("uri", "jdbc:sqlite:" + args[1]);
        properties.put("warehouse", args[2]);
        properties.put("jdbc.schema-version", "V1");
        for (int i = 3; i < args.length; i++) {
            int equals = args[i].indexOf('=');
            if (equals <= 0) {
                System.err.println("not a <property>=<value> argument: " + args[i]);
                System.exit(2);
            }
            properties.put(args[i].substring(0, equals), args[i].substring(equals + 1));
        }
        String warehouseName = properties.remove(WAREHOUSE_NAME);
        Catalog backend = CatalogUtil.buildIcebergCatalog(
                "rest_backend", properties, new org.apache.hadoop.conf.Configuration());

        ServletContextHandler context = new ServletContextHandler(ServletContextHandler.NO_SESSIONS);
        Access access = new Access(System.getenv(TOKEN_ENV), System.getenv(CLIENT_ENV), warehouseName);
        context.addFilter(new FilterHolder(access), "/*", EnumSet.of(DispatcherType.REQUEST));
        context.addServlet(new ServletHolder(new RESTCatalogServlet(new RESTCatalogAdapter(backend))), "/*");

        Server server = new Server();
        ServerConnector connector = new ServerConnector(server);
        connector.setHost("127.0.0.1");
        connector.setPort(port);
        server.addConnector(connector);
        server.setHandler(context);
        server.start();
        System.err.println("lakegate REST catalog listening on http://127.0.0.1:" + port + " (warehouse " + args[2]
                + (warehouseName == null ? "" : " named " + warehouseName) + ", access: " + access.describe() + ")");
        server.join();
    }

    /**
     * Checks every request's access (a static bearer token, or one issued here for OAuth2 client credentials),
     * answers the token endpoint, and refuses a configuration request for another warehouse. Secrets are
     * compared in constant time.
     */
    static final class Access implements Filter {

        private static final String TOKEN_PATH = "/v1/oauth/tokens";
        private static final String TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange";

        private final byte[] staticToken;
        private final String clientId;
        private final byte[] clientSecret;
        private final String warehouse;
        private final Map<String, Long> issued = new ConcurrentHashMap<>();  // access token → expiry (ms)
        private final SecureRandom random = new SecureRandom();

        Access(String staticToken, String client, String warehouse) {
            this.staticToken = empty(staticToken) ? null : staticToken.getBytes(StandardCharsets.UTF_8);
            if (empty(client)) {
                this.clientId = null;
                this.clientSecret = null;
            } else {
                int colon = client.indexOf(':');
                this.clientId = colon < 0 ? "" : client.substring(0, colon);
                this.clientSecret = client.substring(colon + 1).getBytes(StandardCharsets.UTF_8);
            }
            this.warehouse = empty(warehouse) ? null : warehouse;
        }

        String describe() {
            if (clientSecret != null) {
                return "OAuth2 client credentials";
            }
            return staticToken != null ? "bearer token" : "open";
        }

        @Override
        public void doFilter(ServletRequest request, ServletResponse response, FilterChain chain)
                throws IOException, ServletException {
            HttpServletRequest http = (HttpServletRequest) request;
            HttpServletResponse out = (HttpServletResponse) response;
            String path = http.getRequestURI();
            if (clientSecret != null && path.endsWith(TOKEN_PATH) && "POST".equals(http.getMethod())) {
                issue(http, out);
                return;
            }
            if ((staticToken != null || clientSecret != null) && !authorized(http.getHeader("Authorization"))) {
                restError(out, 401, "NotAuthorizedException", "missing, wrong or expired bearer token");
                return;
            }
            if (warehouse != null && path.endsWith("/v1/config") && !warehouse.equals(http.getParameter("warehouse"))) {
                restError(out, 400, "BadRequestException",
                        "this catalog serves the warehouse named " + warehouse + ": ask for it (warehouse=" + warehouse + ")");
                return;
            }
            chain.doFilter(request, response);
        }

        private boolean authorized(String header) {
            if (header == null || !header.startsWith("Bearer ")) {
                return false;
            }
            String token = header.substring("Bearer ".length());
            if (staticToken != null && MessageDigest.isEqual(staticToken, token.getBytes(StandardCharsets.UTF_8))) {
                return true;
            }
            return live(token);
        }

        private boolean live(String token) {
            Long expiry = token == null ? null : issued.get(token);
            return expiry != null && expiry > System.currentTimeMillis();
        }

        /** The token endpoint: client credentials (in the form or as Basic auth), or a live token to refresh. */
        private void issue(HttpServletRequest http, HttpServletResponse out) throws IOException {
            String grant = http.getParameter("grant_type");
            boolean granted;
            if ("client_credentials".equals(grant)) {
                String[] client = basic(http.getHeader("Authorization"));
                String id = client != null ? client[0] : http.getParameter("client_id");
                String secret = client != null ? client[1] : http.getParameter("client_secret");
                granted = secret != null
                        && clientId.equals(id == null ? "" : id)
                        && MessageDigest.isEqual(clientSecret, secret.getBytes(StandardCharsets.UTF_8));
            } else if (TOKEN_EXCHANGE.equals(grant)) {
                granted = live(http.getParameter("subject_token"));
            } else {
                oauthError(out, 400, "unsupported_grant_type", "grant_type must be client_credentials or token exchange");
                return;
            }
            if (!granted) {
                oauthError(out, 401, "invalid_client", "unknown client, wrong client secret or expired token");
                return;
            }
            long now = System.currentTimeMillis();
            issued.values().removeIf(expiry -> expiry <= now);
            byte[] bytes = new byte[32];
            random.nextBytes(bytes);
            String token = Base64.getUrlEncoder().withoutPadding().encodeToString(bytes);
            issued.put(token, now + TOKEN_LIFETIME_S * 1000);
            out.setStatus(200);
            out.setContentType("application/json");
            out.getWriter().write("{\"access_token\":\"" + token + "\",\"token_type\":\"bearer\",\"expires_in\":"
                    + TOKEN_LIFETIME_S + ",\"issued_token_type\":\"urn:ietf:params:oauth:token-type:access_token\"}");
        }

        private static String[] basic(String header) {
            if (header == null || !header.startsWith("Basic ")) {
                return null;
            }
            String decoded;
            try {
                decoded = new String(Base64.getDecoder().decode(header.substring("Basic ".length()).trim()),
                        StandardCharsets.UTF_8);
            } catch (IllegalArgumentException notBase64) {
                return null;
            }
            int colon = decoded.indexOf(':');
            return colon < 0 ? null : new String[] {decoded.substring(0, colon), decoded.substring(colon + 1)};
        }

        private static void restError(HttpServletResponse out, int code, String type, String message)
                throws IOException {
            out.setStatus(code);
            out.setContentType("application/json");
            out.getWriter().write("{\"error\":{\"message\":\"" + message.replace('"', '\'') + "\",\"type\":\"" + type
                    + "\",\"code\":" + code + "}}");
        }

        private static void oauthError(HttpServletResponse out, int code, String error, String description)
                throws IOException {
            out.setStatus(code);
            out.setContentType("application/json");
            out.getWriter().write("{\"error\":\"" + error + "\",\"error_description\":\"" + description + "\"}");
        }

        private static boolean empty(String value) {
            return value == null || value.isEmpty();
        }
    }
}
