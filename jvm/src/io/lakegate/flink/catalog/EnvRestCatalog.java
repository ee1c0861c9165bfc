package io.lakegate.flink.catalog;

import org.apache.iceberg.rest.RESTCatalog;

import java.util.HashMap;
import java.util.Map;

/**
 * Iceberg's {@link RESTCatalog} with its bearer token taken from the environment of the JVM it runs in, never
 * from its properties: catalog properties travel in job graphs and savepoints, and appear in Flink's logs.
 * The property {@value #TOKEN_ENV} names the environment variable (lakegate's {@code LAKEGATE_CATALOG_TOKEN});
 * its value, when set and not empty, becomes the {@code token} property here, in the JVM that talks to the
 * catalog (the client, and every TaskManager that commits). Unset, the catalog is used without a token.
 */
public class EnvRestCatalog extends RESTCatalog {

    /** The property naming the environment variable with the token. */
    public static final String TOKEN_ENV = "lakegate.token-env";

    @Override
    public void initialize(String name, Map<String, String> properties) {
        super.initialize(name, resolved(properties, System.getenv()));
    }

    /** {@code properties} without {@value #TOKEN_ENV}, with {@code token} from the variable it names in {@code env}. */
    public static Map<String, String> resolved(Map<String, String> properties, Map<String, String> env) {
        Map<String, String> out = new HashMap<>(properties);
        String variable = out.remove(TOKEN_ENV);
        String token = variable == null ? null : env.get(variable);
        if (token != null && !token.isEmpty()) {
            out.put("token", token);
        }
        return out;
    }
}
