// book_side: one side of one instrument's book as LEVELS sorted price levels
// (best first) with their aggregate size, updated by one op a cycle.
//
// add(price, q): the level's size grows by q, or a new level is inserted in
//   price order. On a full side a new level better than the worst tracked one
//   evicts the worst (`evict` pulse); one worse than every tracked level is not
//   tracked (`untracked` pulse).
// sub(price, q): the level's size shrinks by q; at <= 0 the level is removed
//   and the levels behind it move up. A sub for a price that is not tracked
//   pulses `miss`.
// Exactness bound: the side equals the full book (every level, every size)
// while the instrument never has more than LEVELS distinct prices on this
// side; evict/untracked/miss stay 0 exactly then. Beyond it the best levels
// stay right until an evicted or untracked price would become the best.
module book_side #(
    parameter integer LEVELS = 16,
    parameter integer IS_BID = 1,
    parameter integer PX_W   = 32,
    parameter integer Q_W    = 32,
    parameter integer LQ_W   = 40
) (
    input  wire            clk,
    input  wire            rst,
    input  wire            op_en,
    input  wire            op_add,
    input  wire [PX_W-1:0] op_px,
    input  wire [Q_W-1:0]  op_qty,
    output wire            top_v,
    output wire [PX_W-1:0] top_px,
    output wire [LQ_W-1:0] top_qty,
    output reg             evict,
    output reg             untracked,
    output reg             miss
);
    localparam integer NW = $clog2(LEVELS + 1);
    localparam integer IW = (LEVELS > 1) ? $clog2(LEVELS) : 1;
    localparam [NW-1:0] LV = LEVELS[NW-1:0];

    reg [PX_W-1:0] px  [0:LEVELS-1];
    reg [LQ_W-1:0] qty [0:LEVELS-1];
    reg [NW-1:0]   n;

    // pos = number of tracked levels strictly better than op_px (they form a prefix)
    reg [NW-1:0] pos;
    reg          found;
    integer i;
    always @* begin
        pos = {NW{1'b0}};
        found = 1'b0;
        for (i = 0; i < LEVELS; i = i + 1) begin
            if (i < n) begin
                if (IS_BID != 0 ? (px[i] > op_px) : (px[i] < op_px))
                    pos = pos + 1'b1;
                if (px[i] == op_px)
                    found = 1'b1;
            end
        end
    end

    wire [LQ_W-1:0] q_ext   = {{(LQ_W-Q_W){1'b0}}, op_qty};
    wire [IW-1:0]   pidx    = pos[IW-1:0];   // meaningful when pos < LEVELS
    wire [LQ_W-1:0] q_at    = qty[pidx];
    wire            do_ins  = op_en && op_add && !found && pos < LV;
    wire            do_del  = op_en && !op_add && found && q_at <= q_ext;

    assign top_v   = (n != {NW{1'b0}});
    assign top_px  = px[0];
    assign top_qty = qty[0];

    integer k;
    always @(posedge clk) begin
        if (rst) begin
            n <= {NW{1'b0}};
            evict <= 1'b0;
            untracked <= 1'b0;
            miss <= 1'b0;
            for (k = 0; k < LEVELS; k = k + 1) begin
                px[k] <= {PX_W{1'b0}};
                qty[k] <= {LQ_W{1'b0}};
            end
        end else begin
            evict <= do_ins && n == LV;
            untracked <= op_en && op_add && !found && pos >= LV;
            miss <= op_en && !op_add && !found;
            if (op_en && found && !do_del)
                qty[pidx] <= op_add ? q_at + q_ext : q_at - q_ext;
            if (do_ins) begin
                for (k = 1; k < LEVELS; k = k + 1)
                    if (k > pidx) begin
                        px[k] <= px[k-1];
                        qty[k] <= qty[k-1];
                    end
                px[pidx] <= op_px;
                qty[pidx] <= q_ext;
                if (n != LV)
                    n <= n + 1'b1;
            end
            if (do_del) begin
                for (k = 0; k < LEVELS - 1; k = k + 1)
                    if (k >= pidx) begin
                        px[k] <= px[k+1];
                        qty[k] <= qty[k+1];
                    end
                px[LEVELS-1] <= {PX_W{1'b0}};
                qty[LEVELS-1] <= {LQ_W{1'b0}};
                n <= n - 1'b1;
            end
        end
    end
endmodule
