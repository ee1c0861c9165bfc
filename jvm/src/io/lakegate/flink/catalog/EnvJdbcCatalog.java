package io.lakegate.flink.catalog;

import org.apache.iceberg.jdbc.JdbcCatalog;

import java.io.ByteArrayOutputStream;
import java.net.URI;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.Map;

/**
 * Iceberg's {@link JdbcCatalog} with the database user and password taken from the environment of the JVM it
 * runs in, never from its properties: catalog properties travel in job graphs and savepoints, and appear in
 * Flink's logs. The property {@value #CREDENTIALS_ENV} names an environment variable holding the database URL
 * with its credentials ({@code postgresql://user:password@host:port/database}, percent-encoded as in any URL:
 * lakegate's {@code LAKEGATE_CATALOG_URI}); they become {@code jdbc.user} and {@code jdbc.password} here,
 * in the JVM that opens the connections (the client, and every TaskManager that commits).
 */
public class EnvJdbcCatalog extends JdbcCatalog {

    /** The property naming the environment variable with the credentials. */
    public static final String CREDENTIALS_ENV = "lakegate.credentials-env";

    @Override
    public void initialize(String name, Map<String, String> properties) {
        Map<String, String> resolved = new HashMap<>(properties);
        String variable = resolved.remove(CREDENTIALS_ENV);
        if (variable != null) {
            resolved.putAll(credentials(variable, System.getenv(variable)));
        }
        super.initialize(name, resolved);
    }

    /** {@code jdbc.user} and {@code jdbc.password} from the URL in {@code value} (of the variable {@code variable}). */
    public static Map<String, String> credentials(String variable, String value) {
        if (value == null || value.isEmpty()) {
            throw new IllegalStateException("the Iceberg catalog's credentials are read from the environment variable "
                    + variable + ", which is not set in this JVM: set it (the catalog_uri setting) in the environment"
                    + " of every Flink process, as for the other LAKEGATE_* secrets (docs/security.md#secrets)");
        }
        String userInfo;
        try {
            userInfo = new URI(value).getRawUserInfo();
        } catch (URISyntaxException e) {
            // Not the exception's message: it would quote the value, password and all.
            throw new IllegalStateException("the environment variable " + variable + " does not hold a valid URL");
        }
        if (userInfo == null || userInfo.isEmpty()) {
            throw new IllegalStateException("the URL in " + variable + " names no user: it must be"
                    + " postgresql://user:password@host:port/database");
        }
        int colon = userInfo.indexOf(':');
        Map<String, String> out = new HashMap<>();
        out.put("jdbc.user", percentDecoded(colon < 0 ? userInfo : userInfo.substring(0, colon)));
        if (colon >= 0) {
            out.put("jdbc.password", percentDecoded(userInfo.substring(colon + 1)));
        }
        return out;
    }

    /** A URL component with its %XX escapes decoded as UTF-8 ('+' stays '+', as in a URL's userinfo). */
    public static String percentDecoded(String text) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        byte[] bytes = text.getBytes(StandardCharsets.UTF_8);
        for (int i = 0; i < bytes.length; i++) {
            if (bytes[i] == '%' && i + 2 < bytes.length) {
                out.write(Integer.parseInt(new String(bytes, i + 1, 2, StandardCharsets.US_ASCII), 16));
                i += 2;
            } else {
                out.write(bytes[i]);
            }
        }
        return out.toString(StandardCharsets.UTF_8);
    }
}
