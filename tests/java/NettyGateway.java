/*
 * A small Netty 4.1 HTTP gateway for leakwatch's end-to-end tests: every request gets an order body built in
 * buildOrderBody() into a direct ByteBuf, wrapped into an HTTP response by an outbound encoder. Modes:
 *   ok         releases everything;
 *   leak       the encoder retains the body one time too many (the mistake of the seeds): each response leaks
 *              its body's native memory;
 *   norelease  the handler never releases the request (with its aggregated body: POST to it);
 *   cache      keeps the last CACHED bodies it answered with (a cache that fills, then stays the same size).
 * The allocator is Netty's default (pooled) unless -Dio.netty.allocator.type=unpooled.
 * Usage: NettyGateway PORT ok|leak|norelease|cache
 */
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelPipeline;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.nio.NioEventLoopGroup;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.handler.codec.MessageToMessageEncoder;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.util.ReferenceCountUtil;
import io.netty.util.internal.PlatformDependent;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;

public final class NettyGateway {
    /*
     * The body (~5 KiB; -Dgateway.items=N: N items of ~45 bytes) is large enough that a leak of one per request
     * stands far above the JVM's own malloc noise.
     */
    private static final int ITEMS = Integer.getInteger("gateway.items", 120);
    private static final AtomicLong ORDER_SEQ = new AtomicLong();
    private static final int CACHED = 2000;
    private static final ByteBuf[] CACHE = new ByteBuf[CACHED];

    private NettyGateway() {
    }

    /*
     * The allocation site the tests look for in a report's "Created at": keep its name distinctive.
     * The buffer comes from the channel's allocator, i.e. UnpooledByteBufAllocator with
     * -Dio.netty.allocator.type=unpooled.
     */
    static ByteBuf buildOrderBody(ByteBufAllocator alloc, String uri) {
        long order = ORDER_SEQ.incrementAndGet();
        StringBuilder sb = new StringBuilder(1024);
        sb.append("{\"order\":").append(order).append(",\"path\":\"").append(uri).append("\",\"items\":[");
        for (int i = 0; i < ITEMS; i++) {
            if (i > 0) {
                sb.append(',');
            }
            sb.append("{\"sku\":\"SKU-").append(order % 9973).append('-').append(i)
                .append("\",\"qty\":").append(1 + (i % 3)).append('}');
        }
        sb.append("]}\n");
        byte[] bytes = sb.toString().getBytes(StandardCharsets.US_ASCII);
        ByteBuf body = alloc.directBuffer(bytes.length);
        body.writeBytes(bytes);
        return body;
    }

    /* Answers every request with an order body; the response itself is made by ResponseEncoder. */
    static final class OrderHandler extends SimpleChannelInboundHandler<FullHttpRequest> {
        private final String mode;

        OrderHandler(String mode) {
            super(!mode.equals("norelease"));   /* norelease: the request is never released */
            this.mode = mode;
        }

        @Override
        protected void channelRead0(ChannelHandlerContext ctx, FullHttpRequest req) {
            ByteBuf body = buildOrderBody(ctx.alloc(), req.uri());
            if (mode.equals("cache")) {
                int slot = (int) (ORDER_SEQ.get() % CACHED);
                ByteBuf copy = body.retainedDuplicate();
                ByteBuf old;
                synchronized (CACHE) {
                    old = CACHE[slot];
                    CACHE[slot] = copy;
                }
                if (old != null) {
                    old.release();
                }
            }
            ChannelFuture f = ctx.writeAndFlush(body);
            if (!HttpUtil.isKeepAlive(req)) {
                f.addListener(ChannelFutureListener.CLOSE);
            }
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            ctx.close();
        }
    }

    /*
     * Wraps a body into a full HTTP response. MessageToMessageEncoder releases its input after encode(), so the
     * response needs one retain of its own; `leak` mode takes a second one that nobody ever releases.
     */
    static final class ResponseEncoder extends MessageToMessageEncoder<ByteBuf> {
        private final boolean leak;

        ResponseEncoder(boolean leak) {
            this.leak = leak;
        }

        @Override
        protected void encode(ChannelHandlerContext ctx, ByteBuf msg, List<Object> out) {
            ReferenceCountUtil.retain(msg);
            if (leak) {
                ReferenceCountUtil.retain(msg);
            }
            FullHttpResponse resp = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.OK, msg);
            resp.headers().set(HttpHeaderNames.CONTENT_TYPE, HttpHeaderValues.APPLICATION_JSON);
            resp.headers().setInt(HttpHeaderNames.CONTENT_LENGTH, msg.readableBytes());
            out.add(resp);
        }
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 2 || !List.of("ok", "leak", "norelease", "cache").contains(args[1])) {
            System.err.println("usage: NettyGateway PORT ok|leak|norelease|cache");
            System.exit(2);
        }
        int port = Integer.parseInt(args[0]);
        String mode = args[1];
        boolean leak = mode.equals("leak");

        /* The tests rely on one malloc per body, freed only by release(); say plainly when that is not so. */
        System.out.println("NettyGateway: useDirectBufferNoCleaner=" + PlatformDependent.useDirectBufferNoCleaner()
            + " allocator=" + ByteBufAllocator.DEFAULT.getClass().getName() + " mode=" + args[1]);

        EventLoopGroup boss = new NioEventLoopGroup(1);
        EventLoopGroup workers = new NioEventLoopGroup(2);
        try {
            ServerBootstrap b = new ServerBootstrap();
            b.group(boss, workers)
                .channel(NioServerSocketChannel.class)
                .childHandler(new ChannelInitializer<SocketChannel>() {
                    @Override
                    protected void initChannel(SocketChannel ch) {
                        ChannelPipeline p = ch.pipeline();
                        p.addLast(new HttpServerCodec());
                        p.addLast(new HttpObjectAggregator(64 * 1024));
                        p.addLast(new ResponseEncoder(leak));
                        p.addLast(new OrderHandler(mode));
                    }
                });
            ChannelFuture bound = b.bind(new InetSocketAddress("127.0.0.1", port)).sync();
            System.out.println("NettyGateway: listening on 127.0.0.1:" + port + " pid="
                + ProcessHandle.current().pid());
            System.out.flush();
            bound.channel().closeFuture().sync();
        } finally {
            boss.shutdownGracefully();
            workers.shutdownGracefully();
        }
    }
}
