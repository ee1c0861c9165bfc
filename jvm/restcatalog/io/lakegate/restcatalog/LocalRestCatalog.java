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
import java.util.EnumSet;
import java.util.HashMap;
import java.util.Map;

/**
 * An Iceberg REST catalog server for tests and local trials: Iceberg's reference adapter and servlet (the ones
 * the Iceberg project tests its REST client against) in front of a JDBC catalog on a SQLite file, on
 * 127.0.0.1 only.
 *
 * <p>Arguments: {@code <port> <sqlite file> <warehouse URI> [<catalog property>=<value> ...]}, the properties
 * for the backing catalog's file IO (e.g. Iceberg's {@code S3FileIO} for a warehouse on S3; its keys come from
 * the AWS SDK's environment variables, never from arguments). When the environment variable
 * {@value #TOKEN_ENV} is set, every request must carry {@code Authorization: Bearer <that token>}, otherwise
 * it gets 401 in the REST spec's error form; the token never appears on the command line or in the log.
 */
public final class LocalRestCatalog {

    /** The environment variable holding the bearer token every request must present (unset: no check). */
    public static final String TOKEN_ENV = "LAKEGATE_REST_CATALOG_TOKEN";

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
        Catalog backend = CatalogUtil.buildIcebergCatalog(
                "rest_backend", properties, new org.apache.hadoop.conf.Configuration());

        ServletContextHandler context = new ServletContextHandler(ServletContextHandler.NO_SESSIONS);
        String token = System.getenv(TOKEN_ENV);
        if (token != null && !token.isEmpty()) {
            context.addFilter(new FilterHolder(new BearerToken(token)), "/*", EnumSet.of(DispatcherType.REQUEST));
        }
        context.addServlet(new ServletHolder(new RESTCatalogServlet(new RESTCatalogAdapter(backend))), "/*");

        Server server = new Server();
        ServerConnector connector = new ServerConnector(server);
        connector.setHost("127.0.0.1");
        connector.setPort(port);
        server.addConnector(connector);
        server.setHandler(context);
        server.start();
        System.err.println("lakegate REST catalog listening on http://127.0.0.1:" + port + " (warehouse " + args[2]
                + ", bearer token " + (token == null || token.isEmpty() ? "not required" : "required") + ")");
        server.join();
    }

    /** Refuses a request whose bearer token is not the expected one (compared in constant time). */
    static final class BearerToken implements Filter {

        private final byte[] expected;

        BearerToken(String token) {
            this.expected = ("Bearer " + token).getBytes(StandardCharsets.UTF_8);
        }

        @Override
        public void doFilter(ServletRequest request, ServletResponse response, FilterChain chain)
                throws IOException, ServletException {
            String header = ((HttpServletRequest) request).getHeader("Authorization");
            byte[] given = header == null ? new byte[0] : header.getBytes(StandardCharsets.UTF_8);
            if (MessageDigest.isEqual(expected, given)) {
                chain.doFilter(request, response);
                return;
            }
            HttpServletResponse http = (HttpServletResponse) response;
            http.setStatus(401);
            http.setContentType("application/json");
            http.getWriter().write("{\"error\":{\"message\":\"missing or wrong bearer token\","
                    + "\"type\":\"NotAuthorizedException\",\"code\":401}}");
        }
    }
}
